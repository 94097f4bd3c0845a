// Package cmdline is what sockshim's programs share on the command line: exit
// codes, one-line errors, the common flags and their logging.
package cmdline

import (
	"fmt"
	"os"
)

// Exit codes, documented in the README and in `sockshim help`.
const (
	ExitOK      = 0
	ExitFailure = 1 // the operation failed; stderr says why in one line
	ExitUsage   = 2 // bad flags or arguments
	// ExitRunFailure is what `sockshim run` returns when it could not start
	// the command at all (as podman run and docker run do); otherwise run
	// returns the command's own code.
	ExitRunFailure = 125
)

// Fail prints one line on stderr and returns code.
func Fail(code int, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "sockshim: "+format+"\n", args...)
	return code
}

// RequireRoot refuses, in one line, a command that needs root.
func RequireRoot(command string) (int, bool) {
	if os.Geteuid() != 0 {
		return Fail(ExitFailure, "%s: must run as root (it loads eBPF programs and changes cgroups; runtimes run hooks as root)", command), false
	}
	return 0, true
}
