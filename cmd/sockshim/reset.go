package main

import (
	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/cmdline"
	"github.com/sockshim/sockshim/internal/records"
)

const resetUsage = `sockshim reset [OPTIONS]

Detaches and unpins everything sockshim installed under its bpffs directory
(every group's links, the programs and the maps) and removes its records.
Containers keep running on the normal network path; TCP connections that
were already bypassed keep their redirect until they close, so no byte in
flight is lost.
`

func cmdReset(args []string) int {
	fs := cmdline.NewFlagSet("reset")
	opts := cmdline.AddOptions(fs)
	if code, ok := cmdline.Parse(fs, resetUsage, args); !ok {
		return code
	}
	if code, ok := cmdline.RequireRoot("reset"); !ok {
		return code
	}
	if err := bpf.Reset(opts.BPFFS); err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "reset: %v", err)
	}
	store, err := records.Open(opts.StateDir)
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "reset: %v", err)
	}
	if err := store.DeleteAll(); err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "reset: %v", err)
	}
	return cmdline.ExitOK
}
