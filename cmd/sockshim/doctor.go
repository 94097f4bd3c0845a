package main

import (
	"os"

	"github.com/sockshim/sockshim/internal/cmdline"
	"github.com/sockshim/sockshim/internal/doctor"
)

const doctorUsage = `sockshim doctor [OPTIONS]

Checks the kernel and host for what sockshim needs and says what is missing
and how to fix it: privileges, the bpf() syscall, the cgroup v2 mount,
bpffs, the map types (SOCKHASH, cgroup storage, hash, percpu hash), the program
types and helpers (sock_ops, sk_msg, sk_skb, cgroup sock and sock_addr),
whether a group's process may bind ports below 1024 without
CAP_NET_BIND_SERVICE, whether the bind programs of io.sockshim.ports=all
load, and the sockmap FIONREAD regression (a real probe over loopback, with and
without the no-op stream_verdict sockshim attaches), and four behaviours of
the kernel's sockmap receive path (a blocking read woken by a signal,
MSG_WAITALL, SO_RCVLOWAT, splice), each probed on a loopback pair in a
private SOCKHASH against the same probe on plain TCP; "info" lines say
whether each is present on this kernel. It changes nothing and attaches
nothing to any cgroup.

Exit status: 0 when everything required is there, 1 otherwise.
`

func cmdDoctor(args []string) int {
	fs := cmdline.NewFlagSet("doctor")
	opts := cmdline.AddOptions(fs)
	if code, ok := cmdline.Parse(fs, doctorUsage, args); !ok {
		return code
	}
	if !doctor.Report(os.Stdout, doctor.Run(doctor.Options{BPFFS: opts.BPFFS})) {
		return cmdline.ExitFailure
	}
	return cmdline.ExitOK
}
