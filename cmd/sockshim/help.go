package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/sockshim/sockshim/internal/cmdline"
)

const helpUsage = `sockshim help [COMMAND]

Shows the manual of COMMAND, or the list of commands.
`

func overview() string {
	var b strings.Builder
	b.WriteString("sockshim: namespace-like ports and a loopback TCP bypass for host-network\ncontainers, with eBPF on each container's cgroup.\n\nUsage: sockshim COMMAND [ARGS]\n\nCommands:\n")
	var names []string
	commands := commandTable()
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&b, "  %-9s %s\n", name, commands[name].summary)
	}
	b.WriteString(`
Every command that touches state takes --bpffs DIR (env SOCKSHIM_BPFFS,
default /sys/fs/bpf/sockshim), --state-dir DIR (env SOCKSHIM_STATE_DIR,
default /run/sockshim) and --log-level LEVEL (env SOCKSHIM_LOG_LEVEL).

Exit status: 0 success, 1 failure (one line on stderr says why), 2 bad
usage; sockshim run returns its command's status, or 125 when it could not
start it. See "sockshim help COMMAND".
`)
	return b.String()
}

func cmdHelp(args []string) int {
	if len(args) == 0 {
		fmt.Print(overview())
		return cmdline.ExitOK
	}
	c, ok := commandTable()[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "sockshim: no manual for %q\n", args[0])
		return cmdline.ExitUsage
	}
	if c.usage == "" { // a program of its own prints its manual
		return c.run([]string{"-h"})
	}
	fmt.Print(c.usage)
	return cmdline.ExitOK
}
