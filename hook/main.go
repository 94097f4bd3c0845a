// Command sockshim gives host-network containers their own port space and a
// loopback TCP bypass with eBPF on each container's cgroup. It runs as an OCI
// hook, an NRI plugin, or on its own with `sockshim run`.
package main

import (
	"fmt"
	"os"
)

// command is one subcommand: its one-line summary, its manual page and what
// it runs. run returns the process exit code.
type command struct {
	summary string
	usage   string
	run     func(args []string) int
}

var commands = map[string]command{}

// hidden are internal entry points (the ends of a benchmark run).
var hidden = map[string]func(args []string) int{}

func init() {
	for name, c := range map[string]command{
		"run": {"run a command in a fresh cgroup with ports and bypass", runUsage, cmdRun},
		"ls":  {"list containers and groups under sockshim", lsUsage, cmdLs},

		"doctor":  {"check the kernel and host for what sockshim needs", doctorUsage, cmdDoctor},
		"gc":      {"remove what is left of groups whose cgroup is gone", gcUsage, cmdGC},
		"reset":   {"detach and unpin everything sockshim installed", resetUsage, cmdReset},
		"version": {"print version, commit and kernel features", versionUsage, cmdVersion},
		"help":    {"show the manual of a command", helpUsage, cmdHelp},
	} {
		commands[name] = c
	}
}

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

func dispatch(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, overview())
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help":
		fmt.Print(overview())
		return 0
	case "--version", "-v":
		return cmdVersion(nil)
	}
	if h, ok := hidden[args[0]]; ok {
		return h(args[1:])
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "sockshim: unknown command %q (see sockshim help)\n", args[0])
		return exitUsage
	}
	return c.run(args[1:])
}
