// Command sockshim gives host-network containers their own port space and a
// loopback TCP bypass with eBPF on each container's cgroup. It runs as an OCI
// hook, an NRI plugin, or on its own with `sockshim run`.
package main

import (
	"fmt"
	"os"

	"github.com/sockshim/sockshim/internal/bench"
	"github.com/sockshim/sockshim/internal/cmdline"
)

// command is one subcommand: its one-line summary, its manual page and what
// it runs. run returns the process exit code.
type command struct {
	summary string
	usage   string
	run     func(args []string) int
}

// commandTable is every command, in one place. A function, not a variable:
// help reads it, and a variable's initializer may not refer to itself.
func commandTable() map[string]command {
	return map[string]command{
		"hook":    {"OCI hook entry: reads the state on stdin", hookUsage, cmdHook},
		"nri":     {"run as a containerd / CRI-O NRI plugin", "", cmdNRI}, // its manual is sockshim-nri's
		"run":     {"run a command in a fresh cgroup with ports and bypass", runUsage, cmdRun},
		"install": {"write the hooks.d file for podman and CRI-O", installUsage, cmdInstall},
		"inject":  {"add the hook stages to an OCI bundle (runc)", injectUsage, cmdInject},
		"ls":      {"list containers and groups under sockshim", lsUsage, cmdLs},
		"port":    {"host port(s) of a container's virtual port(s)", portUsage, cmdPort},
		"doctor":  {"check the kernel and host for what sockshim needs", doctorUsage, cmdDoctor},
		"bench":   {"the reference RTT experiment, with and without the bypass", benchUsage, cmdBench},
		"gc":      {"remove what is left of groups whose cgroup is gone", gcUsage, cmdGC},
		"reset":   {"detach and unpin everything sockshim installed", resetUsage, cmdReset},
		"version": {"print version, commit and kernel features", versionUsage, cmdVersion},
		"help":    {"show the manual of a command", helpUsage, cmdHelp},
	}
}

// hidden are internal entry points, not in the command list: the ends of a
// benchmark run, each a process of its own.
var hidden = map[string]func(args []string) int{
	"__bench-echo":    benchEnd(bench.Echo),
	"__bench-client":  benchEnd(bench.Client),
	"__bench-sink":    benchEnd(bench.Sink),
	"__bench-stream":  benchEnd(bench.Stream),
	"__bench-accept":  benchEnd(bench.Accept),
	"__bench-connect": benchEnd(bench.Connect),
}

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

func dispatch(args []string) int {
	if len(args) == 0 && os.Getenv(nriSocketEnv) != "" {
		return cmdNRI(nil) // started by the runtime as a pre-registered plugin
	}
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, overview())
		return cmdline.ExitUsage
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
	c, ok := commandTable()[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "sockshim: unknown command %q (see sockshim help)\n", args[0])
		return cmdline.ExitUsage
	}
	return c.run(args[1:])
}
