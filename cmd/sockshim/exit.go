package main

import (
	"fmt"
	"os"
)

// Exit codes, documented in the README and in `sockshim help`.
const (
	exitOK      = 0
	exitFailure = 1 // the operation failed; stderr says why in one line
	exitUsage   = 2 // bad flags or arguments
	// exitRunFailure is what `sockshim run` returns when it could not start
	// the command at all (as podman run and docker run do); otherwise run
	// returns the command's own code.
	exitRunFailure = 125
)

// fail prints one line on stderr and returns code.
func fail(code int, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "sockshim: "+format+"\n", args...)
	return code
}

// requireRoot refuses, in one line, a command that needs root.
func requireRoot(command string) (int, bool) {
	if os.Geteuid() != 0 {
		return fail(exitFailure, "%s: must run as root (it loads eBPF programs and changes cgroups; runtimes run hooks as root)", command), false
	}
	return 0, true
}
