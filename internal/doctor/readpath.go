package doctor

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// readProbe is one behaviour of the kernel's sockmap receive path
// (tcp_bpf_recvmsg, tcp_bpf_recvmsg_parser), which reads every socket in a
// SOCKHASH. Each is run on a plain loopback pair, the control, and on one
// whose receiving socket is in a SOCKHASH; where the two differ the
// behaviour is present on this kernel.
type readProbe struct {
	name string
	// handled says how sockshim keeps the behaviour from reaching a
	// program, shown when it is present.
	handled string
	run     func(inSockhash bool) (readResult, error)
}

// readProbes are in report order.
var readProbes = []readProbe{
	{"sockmap read: signal wakeup", "sockshim keeps blocking sockets off the bypass map", probeSignalWakeup},
	{"sockmap read: MSG_WAITALL", "sockshim keeps blocking sockets off the bypass map", probeWaitAll},
	{"sockmap read: SO_RCVLOWAT", "sockshim keeps sockets with SO_RCVLOWAT > 1 off the bypass map", probeRcvLowat},
	{"sockmap read: splice", "eBPF cannot see splice(2) on a non-blocking socket: the README's compatibility table gives the port-list form of io.sockshim.bypass as the way around", probeSplice},
}

// readPathChecks runs every readProbe. They only inform: sockshim already
// works around each behaviour, so none fails the report.
func readPathChecks() []Check {
	out := make([]Check, 0, len(readProbes))
	for _, p := range readProbes {
		out = append(out, p.check())
	}
	return out
}

func (p readProbe) check() Check {
	c := Check{Name: p.name, OK: true, Info: true}
	plain, err := p.run(false)
	if err != nil {
		c.Detail = fmt.Sprintf("probe failed: plain TCP: %v", err)
		return c
	}
	// A control that is wrong means the probe, not the sockmap, is off.
	if !plain.correct() {
		c.Detail = fmt.Sprintf("probe failed: plain TCP gave %v", plain)
		return c
	}
	mapped, err := p.run(true)
	if err != nil {
		c.Detail = fmt.Sprintf("probe failed: in a SOCKHASH: %v", err)
		return c
	}
	figures := fmt.Sprintf("plain TCP: %v; in a SOCKHASH: %v", plain, mapped)
	if mapped.correct() {
		c.Detail = "fixed (" + figures + ")"
	} else {
		c.Detail = "present (" + figures + "): " + p.handled
	}
	return c
}

// readResult is what the receiving call under test returned.
type readResult struct {
	n    int   // bytes it returned (or moved, for splice)
	want int   // bytes plain TCP returns
	err  error // its error, nil when it returned bytes
}

func (r readResult) correct() bool { return r.err == nil && r.n == r.want }

func (r readResult) String() string {
	var errno unix.Errno
	switch {
	case errors.As(r.err, &errno) && unix.ErrnoName(errno) != "":
		return unix.ErrnoName(errno)
	case r.err != nil:
		return r.err.Error()
	}
	return fmt.Sprintf("%d of %d B", r.n, r.want)
}
