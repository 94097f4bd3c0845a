package bpf

import (
	"strings"
	"testing"

	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/testenv"
)

// This kernel takes the bind programs of io.sockshim.ports=all, and Open
// pinned them.
func TestProbePortsAll(t *testing.T) {
	testenv.RequireRoot(t)
	if err := ProbePortsAll(); err != nil {
		t.Fatalf("the ports=all programs do not load: %v", err)
	}
	k := openTestKernel(t)
	if !k.PortsAllAvailable() {
		t.Fatal("ports=all is not available after Open")
	}
	for _, name := range []string{"ports_all_bind4", "ports_all_bind6"} {
		if _, err := k.program(name); err != nil {
			t.Error(err)
		}
	}
}

// A claim is made once; the holder is told to anybody else; a release
// takes only the releasing group's ports.
func TestPoolClaims(t *testing.T) {
	k := openTestKernel(t)
	if h, err := k.ClaimHostPort("tcp", 20000, 1); err != nil || h != 1 {
		t.Fatalf("first claim: holder %d, %v", h, err)
	}
	if h, err := k.ClaimHostPort("tcp", 20000, 1); err != nil || h != 1 {
		t.Fatalf("the same group again: holder %d, %v", h, err)
	}
	if h, err := k.ClaimHostPort("tcp", 20000, 2); err != nil || h != 1 {
		t.Fatalf("another group: holder %d, %v; want 1", h, err)
	}
	if h, err := k.ClaimHostPort("udp", 20000, 2); err != nil || h != 2 {
		t.Fatalf("the same port in UDP: holder %d, %v; want 2", h, err)
	}
	if err := k.ReleaseHostPort("tcp", 20000, 2); err != nil {
		t.Fatal(err)
	}
	held, _ := k.Holders()
	if held[HostPort{"tcp", 20000}] != 1 || held[HostPort{"udp", 20000}] != 2 || len(held) != 2 {
		t.Fatalf("held %v after another group's release", held)
	}
	if err := k.ReleaseHostPorts(1); err != nil {
		t.Fatal(err)
	}
	if held, _ := k.Holders(); len(held) != 1 {
		t.Fatalf("held %v after group 1 released all", held)
	}

	// AttachGroup refuses a host port another group holds.
	parent := testenv.CgroupParent(t)
	cg := testenv.Cgroup(t, parent, "g")
	err := k.AttachGroup(Group{Name: "g", Cgroup: cg, Ports: []ports.Mapping{{Proto: "udp", Port: 53, HostPort: 20000}}})
	if err == nil || !strings.Contains(err.Error(), "held by another group") {
		t.Fatalf("attach with a held host port: %v", err)
	}
	if n := attachedCount(t, cg); n != 0 {
		t.Fatalf("refused group has %d programs attached", n)
	}
}
