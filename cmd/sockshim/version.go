package main

import (
	"fmt"
	"runtime/debug"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/cmdline"
)

const versionUsage = `sockshim version

Prints sockshim's version and commit, the kernel release, and the kernel
features sockshim uses.
`

// version and commit are set at build time (make build):
// -ldflags "-X main.version=v1.2.3 -X main.commit=SHA".
var version, commit = "dev", ""

func cmdVersion(args []string) int {
	commit := commit
	if commit == "" {
		commit = buildCommit()
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	fmt.Printf("sockshim %s\ncommit: %s\nkernel: %s\n", version, commit, unix.ByteSliceToString(uts.Release[:]))
	fmt.Println("kernel features used: cgroup v2 bpf_link; cgroup/sock_create; cgroup sock_addr hooks bind4/6, connect4/6, getsockname4/6, getpeername4/6, sendmsg4/6, recvmsg4/6; sockops; SOCKHASH with sk_msg and sk_skb stream_verdict; cgroup storage; for ports=all bpf_loop, bpf_set_retval and bpf_sk_lookup_tcp/udp in bind4/6")
	return cmdline.ExitOK
}

// buildCommit is the VCS revision the go command recorded, for builds made
// without make (go build embeds it when it can run git).
func buildCommit() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}
