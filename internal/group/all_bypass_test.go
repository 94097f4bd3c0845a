package group

import (
	"fmt"
	"testing"

	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/internal/testenv"
)

// io.sockshim.bypass=PORT beside ports=all: the scope names the virtual
// port, whose host port the group's bind takes only later; connections
// accepted on it are redirected, those on another port are not.
func TestAllBypassScopedToVirtualPort(t *testing.T) {
	e := newEnv(t)
	cgA := testenv.Cgroup(t, e.parent, "a")
	ra, err := Setup(e.k, e.store, records.Record{ID: "a", Kind: records.KindRun, Cgroup: cgA, Bypass: true,
		BypassPorts: []uint16{3000}, All: allBoth}, testPool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Teardown(e.k, e.store, "a") })
	rb, b := e.group(t, "b", true)
	redirected := func() uint64 { return counters(t, e, ra.CgroupID).Bytes + counters(t, e, rb.CgroupID).Bytes }
	for _, c := range []struct {
		port       uint16
		redirected bool
	}{{3000, true}, {4000, false}} {
		before := redirected()
		const n = 4 << 20
		srv := testenv.Start(t, cgA, "exchange", "listen", withPort("127.0.0.1", c.port), fmt.Sprint(n), "1")
		srv.JSON(t, helperTimeout, &testenv.ListenResult{})
		cli := testenv.Start(t, b, "exchange", "dial", withPort("127.0.0.1", e.kernelPort(t, ra, "tcp", c.port)), fmt.Sprint(n), "2")
		var rs, rc testenv.ExchangeResult
		srv.JSON(t, 5*helperTimeout, &rs)
		cli.JSON(t, 5*helperTimeout, &rc)
		if rs.Recv != n || rc.Recv != n || rs.SentSHA != rc.RecvSHA || rc.SentSHA != rs.RecvSHA {
			t.Fatalf("port %d: exchange %+v / %+v", c.port, rs, rc)
		}
		if got := redirected() - before; c.redirected != (got != 0) {
			t.Errorf("a connection to a's listener on %d redirected %d bytes, want redirected=%v", c.port, got, c.redirected)
		}
	}
}
