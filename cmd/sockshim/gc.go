package main

import (
	"fmt"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/cmdline"
	"github.com/sockshim/sockshim/internal/group"
	"github.com/sockshim/sockshim/internal/records"
)

const gcUsage = `sockshim gc [OPTIONS]

Removes the records, links and pins of groups whose cgroup no longer exists
(a container whose poststop never ran, a sockshim run that was killed) and
pins that have no record. Prints the id of each group it removed.
`

func cmdGC(args []string) int {
	fs := cmdline.NewFlagSet("gc")
	opts := cmdline.AddOptions(fs)
	if code, ok := cmdline.Parse(fs, gcUsage, args); !ok {
		return code
	}
	if code, ok := cmdline.RequireRoot("gc"); !ok {
		return code
	}
	k, err := bpf.Open(opts.BPFFS)
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "gc: %v", err)
	}
	defer k.Close()
	store, err := records.Open(opts.StateDir)
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "gc: %v", err)
	}
	removed, err := group.Collect(k, store)
	for _, id := range removed {
		fmt.Println(id)
	}
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "gc: %v", err)
	}
	return cmdline.ExitOK
}
