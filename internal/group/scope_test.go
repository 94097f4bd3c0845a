package group

import (
	"fmt"
	"net"
	"testing"

	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/internal/testenv"
)

// freePort is a TCP port nothing listens on right now (outside the pool).
func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// io.sockshim.bypass=PORT: connections accepted on a listed port are
// redirected, those accepted on another port are not, and the group's own
// outgoing connections still are. A listed port that is also remapped
// (io.sockshim.ports) scopes its host port.
func TestBypassScopedToPorts(t *testing.T) {
	e := newEnv(t)
	listed, other, remapped := freePort(t), freePort(t), uint16(3000)
	cgA := testenv.Cgroup(t, e.parent, "a")
	ra, err := Setup(e.k, e.store, records.Record{ID: "a", Kind: records.KindRun, Cgroup: cgA, Bypass: true,
		BypassPorts: []uint16{listed, remapped}, Ports: []ports.Mapping{tcp(remapped)}}, testPool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Teardown(e.k, e.store, "a") })
	if rec, err := e.store.Read("a"); err != nil || len(rec.BypassPorts) != 2 {
		t.Fatalf("record of a: %+v, %v; want the two bypass ports", rec, err)
	}
	rb, b := e.group(t, "b", true)

	for _, c := range []struct {
		name       string
		port       uint16
		redirected bool
	}{{"listed port", listed, true}, {"remapped listed port", remapped, true}, {"port not listed", other, false}} {
		t.Run(c.name, func(t *testing.T) {
			// Both directions count: the client's first writes may all
			// take the normal path while the server has not accepted yet.
			redirected := func() uint64 { return counters(t, e, ra.CgroupID).Bytes + counters(t, e, rb.CgroupID).Bytes }
			before := redirected()
			if c.port == remapped {
				exchangeVia(t, cgA, withPort("127.0.0.1", c.port), b, hostPort(t, ra, "tcp", remapped), 4<<20)
			} else {
				exchange(t, cgA, withPort("127.0.0.1", c.port), b, 4<<20)
			}
			got := redirected() - before
			if c.redirected && got == 0 || !c.redirected && got != 0 {
				t.Errorf("a connection to a's listener on %d redirected %d bytes, want redirected=%v", c.port, got, c.redirected)
			}
		})
	}
	t.Run("outgoing", func(t *testing.T) {
		redirected := func() uint64 { return counters(t, e, ra.CgroupID).Bytes + counters(t, e, rb.CgroupID).Bytes }
		before := redirected()
		exchange(t, b, fmt.Sprintf("127.0.0.1:%d", freePort(t)), cgA, 4<<20)
		if got := redirected() - before; got == 0 {
			t.Error("a's own outgoing connection to another bypass group was not redirected")
		}
	})
}
