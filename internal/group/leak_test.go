package group

import (
	"fmt"
	"testing"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/testenv"
)

// Per-socket state dies with the socket: bind/close cycles (100,000; a
// million under make stress) and bypassed connections (10,000; 100,000) leave
// every map at its starting size.
func TestNoLeaks(t *testing.T) {
	e := newEnv(t)
	_, cg := e.group(t, "leaky", true, tcp(3000), udp(3000))
	_, peer := e.group(t, "peer", true)
	before, err := testenv.MapSizes(e.bpffs)
	if err != nil {
		t.Fatal(err)
	}
	var r testenv.BindLoopResult
	testenv.Run(t, cg, 20*helperTimeout, &r, "bindloop", fmt.Sprint(testenv.Stress(100000, 1000000)), "3000")
	if r.Failed != 0 {
		t.Fatalf("%d of %d binds of 3000 failed, the first at %s", r.Failed, r.Cycles, r.FirstError)
	}
	conns := testenv.Stress(10000, 100000)
	srv := testenv.Start(t, cg, "churn", "listen", "127.0.0.1:0", fmt.Sprint(conns))
	var l testenv.ListenResult
	srv.JSON(t, helperTimeout, &l)
	var cr testenv.ChurnResult
	testenv.Run(t, peer, 20*helperTimeout, &cr, "churn", "dial", l.Addr, fmt.Sprint(conns))
	if stderr, err := srv.Wait(helperTimeout); err != nil || cr.Connections != conns {
		t.Fatalf("%d of %d connections: %v %s", cr.Connections, conns, err, stderr)
	}
	leakyID, _ := bpf.CgroupID(cg)
	if c, _ := e.k.Counters(leakyID); c.Messages < uint64(conns) {
		t.Fatalf("only %d messages redirected over %d connections", c.Messages, conns)
	}
	after, err := testenv.MapSizes(e.bpffs)
	if err != nil {
		t.Fatal(err)
	}
	sameMapSizes(t, before, after)
	t.Logf("%d bind/close cycles, %d connections; map sizes before %v, after %v", r.Cycles, conns, before, after)
}

// Under io.sockshim.ports=all a port gets its mapping at its first bind and
// keeps it: a million bind/close cycles (two ports, TCP and UDP) leave
// every map as the first binds made it, and every bind succeeds. The group's
// pool is a corner of the tests' that no other test connects to: the bind
// program cannot see TIME_WAIT connections (README), and a host port with
// some fails a bind without SO_REUSEADDR, as it would outside sockshim.
func TestNoLeaksUnderAll(t *testing.T) {
	e := newEnv(t)
	_, cg := e.allGroup(t, "allleaky", allBoth, Pool{Low: 23800, High: 23809})
	var warm testenv.BindLoopResult
	for _, port := range []string{"3000", "3001"} {
		testenv.Run(t, cg, helperTimeout, &warm, "bindloop", "2", port) // tcp, then udp
		if warm.Failed != 0 {
			t.Fatalf("first binds of %s: %d of 2 failed", port, warm.Failed)
		}
	}
	before, err := testenv.MapSizes(e.bpffs)
	if err != nil {
		t.Fatal(err)
	}
	var r testenv.BindLoopResult
	for _, port := range []string{"3000", "3001"} {
		testenv.Run(t, cg, 20*helperTimeout, &r, "bindloop", "500000", port)
		if r.Failed != 0 {
			t.Fatalf("%d of %d binds of %s failed, the first at %s", r.Failed, r.Cycles, port, r.FirstError)
		}
	}
	after, err := testenv.MapSizes(e.bpffs)
	if err != nil {
		t.Fatal(err)
	}
	sameMapSizes(t, before, after)
	if before["virtual_to_host"] < 4 {
		t.Errorf("virtual_to_host holds %d entries after binding 3000 and 3001 over tcp and udp, want 4 or more", before["virtual_to_host"])
	}
	t.Logf("2 x %d bind/close cycles under all; map sizes %v", r.Cycles, after)
}
