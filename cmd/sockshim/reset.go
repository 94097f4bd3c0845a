package main

import (
	"github.com/sockshim/sockshim/bpf"
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
	fs := newFlagSet("reset")
	opts := addOptions(fs)
	if code, ok := parse(fs, resetUsage, args); !ok {
		return code
	}
	if code, ok := requireRoot("reset"); !ok {
		return code
	}
	if err := bpf.Reset(opts.bpffs); err != nil {
		return fail(exitFailure, "reset: %v", err)
	}
	store, err := records.Open(opts.stateDir)
	if err != nil {
		return fail(exitFailure, "reset: %v", err)
	}
	if err := store.DeleteAll(); err != nil {
		return fail(exitFailure, "reset: %v", err)
	}
	return exitOK
}
