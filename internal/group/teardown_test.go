package group

import (
	"testing"

	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/internal/testenv"
)

// Teardown deletes a listed group's entries by key, from its record, and
// scans only for what its sockets made: a group with TCP and UDP ports
// (one of them a fixed host port), a bypass scoped to two ports and a
// bypass listener still open when it goes leaves every map as it was
// before it was set up.
func TestTeardownLeavesNothing(t *testing.T) {
	e := newEnv(t)
	before, err := testenv.MapSizes(e.bpffs)
	if err != nil {
		t.Fatal(err)
	}
	listed, fixed := freePort(t), freePort(t)
	cgA := testenv.Cgroup(t, e.parent, "a")
	ra, err := Setup(e.k, e.store, records.Record{ID: "a", Kind: records.KindRun, Cgroup: cgA, Bypass: true,
		BypassPorts: []uint16{listed, 3000},
		Ports:       []ports.Mapping{tcp(3000), udp(3001), {Proto: "tcp", Port: 3002, HostPort: fixed}}}, testPool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Teardown(e.k, e.store, "a") })
	_, cgB := e.group(t, "b", true)

	exchange(t, cgA, withPort("127.0.0.1", listed), cgB, 1<<20)
	srv := testenv.Start(t, cgA, "listen", "tcp", withPort("127.0.0.1", listed), "still-here")
	var l testenv.ListenResult
	srv.JSON(t, helperTimeout, &l)
	var d testenv.DialResult
	testenv.Run(t, cgB, helperTimeout, &d, "dial", "tcp", l.Addr)
	if d.Token != "still-here" {
		t.Fatalf("dial %s from b: token %q", l.Addr, d.Token)
	}
	during, err := testenv.MapSizes(e.bpffs)
	if err != nil {
		t.Fatal(err)
	}
	if during["bypass_listeners"] == 0 || during["bypass_scope"] != 2 || during["host_port_holders"] != before["host_port_holders"]+3 {
		t.Fatalf("map sizes while a is set up: %v; want its listener, 2 scope entries and 3 more held host ports", during)
	}

	for _, id := range []string{ra.ID, "b"} {
		if err := Teardown(e.k, e.store, id); err != nil {
			t.Fatalf("tear down %s: %v", id, err)
		}
	}
	after, err := testenv.MapSizes(e.bpffs)
	if err != nil {
		t.Fatal(err)
	}
	sameMapSizes(t, before, after)
}
