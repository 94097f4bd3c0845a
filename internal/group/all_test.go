package group

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/testenv"
)

// A group under all binds 30 random ports of each protocol: each lands on
// a distinct pool port, shows its own port inside and is reached by its
// host port from outside; no port is taken before the group binds it.
//
// The ports are drawn outside the kernel's ephemeral range: a group's
// datagram to a local address at one of its own ports goes to its own
// socket, as in a network namespace, so a reply to a client that was
// autobound to the same port number would not reach it (README, "The whole
// port space"; 4 runs in 150 failed so before).
func TestAllBindsAnyPort(t *testing.T) {
	e := newEnv(t)
	rec, cg := e.allGroup(t, "any", allBoth, testPool)
	if ms, _ := e.k.Mappings(rec.CgroupID); len(ms) != 0 {
		t.Fatalf("mappings before any bind: %v", ms)
	}
	lo, hi, ok := ephemeralRange()
	if !ok {
		t.Fatal("cannot read net.ipv4.ip_local_port_range")
	}
	seen := map[uint16]bool{}
	var random []uint16
	for len(random) < 30 {
		if p := uint16(1 + rand.IntN(65535)); !seen[p] && (int(p) < lo || int(p) > hi) {
			seen[p] = true
			random = append(random, p)
		}
	}
	for _, c := range []struct{ proto, host string }{{"tcp", "::"}, {"udp", "127.0.0.1"}} {
		mustServe(t, cg, c.proto, c.host, "any", random...)
		hosts := map[uint16]uint16{}
		for _, p := range random {
			h := e.kernelPort(t, rec, c.proto, p)
			if !inPool(testPool, h) {
				t.Fatalf("%d/%s: host port %d, want one of the pool %s", p, c.proto, h, testPool)
			}
			if q, dup := hosts[h]; dup {
				t.Fatalf("%d/%s and %d/%s share host port %d", p, c.proto, q, c.proto, h)
			}
			hosts[h] = p
			reachFromOutside(t, c.proto, h, fmt.Sprintf("any-%d", p))
		}
		for _, r := range dialPorts(t, cg, c.proto, "127.0.0.1", random...) {
			if r.Error != "" || r.Token != fmt.Sprintf("any-%d", r.Port) || portOf(t, r.Addr) != r.Port {
				t.Errorf("inside, %s 127.0.0.1:%d: %+v; want its own server, seen as %d", c.proto, r.Port, r, r.Port)
			}
		}
	}
	held, err := e.k.Holders()
	if err != nil || len(held) != 60 {
		t.Fatalf("%d host ports held (%v), want 60", len(held), err)
	}
}

// Ten groups under all each bind 3000 and 8080, TCP and UDP: forty
// distinct host ports, each group reaching its own servers by 3000 and 8080.
func TestAllTenGroupsBindTheSamePorts(t *testing.T) {
	e := newEnv(t)
	hosts := map[string]string{}
	for i := range 10 {
		name := fmt.Sprintf("g%d", i)
		rec, cg := e.allGroup(t, name, allBoth, testPool)
		for _, proto := range []string{"tcp", "udp"} {
			mustServe(t, cg, proto, "0.0.0.0", name, 3000, 8080)
			for _, p := range []uint16{3000, 8080} {
				h := e.kernelPort(t, rec, proto, p)
				k := fmt.Sprintf("%s/%d", proto, h)
				if other, dup := hosts[k]; dup || !inPool(testPool, h) {
					t.Fatalf("%s %d/%s: host port %d (also %q's), want a pool port of its own", name, p, proto, h, other)
				}
				hosts[k] = name
				reachFromOutside(t, proto, h, fmt.Sprintf("%s-%d", name, p))
			}
			for _, r := range dialPorts(t, cg, proto, "127.0.0.1", 3000, 8080) {
				if r.Token != fmt.Sprintf("%s-%d", name, r.Port) {
					t.Errorf("%s dialing %d/%s reached %+v, want its own server", name, r.Port, proto, r)
				}
			}
		}
	}
}

// A server that stops and binds again gets its host port back, TCP and UDP.
func TestAllRestartedServerKeepsItsHostPort(t *testing.T) {
	e := newEnv(t)
	rec, cg := e.allGroup(t, "restart", allBoth, testPool)
	for _, proto := range []string{"tcp", "udp"} {
		mustServe(t, cg, proto, "127.0.0.1", "first", 3000).Stop()
		h := e.kernelPort(t, rec, proto, 3000)
		mustServe(t, cg, proto, "::", "second", 3000)
		if again := e.kernelPort(t, rec, proto, 3000); again != h {
			t.Fatalf("%s: host port %d after the restart, %d before", proto, again, h)
		}
		reachFromOutside(t, proto, h, "second-3000")
	}
}

// A pool of four ports: the fifth port bound fails with EADDRINUSE, the
// group keeps its four, and a second group gets the ports once the first
// is torn down.
func TestAllPoolExhaustion(t *testing.T) {
	e := newEnv(t)
	pool := Pool{Low: 23990, High: 23993}
	rec, cg := e.allGroup(t, "full", ports.All{TCP: true}, pool)
	srv, res := servePorts(t, cg, "tcp", "127.0.0.1", "full", 1, 2, 3, 4, 5)
	for _, r := range res[:4] {
		if r.Error != "" {
			t.Fatalf("bind of %d with the pool not yet empty: %s", r.Port, r.Error)
		}
	}
	if !res[4].EADDRINUSE {
		t.Fatalf("bind of a fifth port with a pool of four: %+v, want EADDRINUSE", res[4])
	}
	if h := e.kernelPort(t, rec, "tcp", 5); h != 0 {
		t.Fatalf("the refused port has host port %d", h)
	}
	for p := uint16(1); p <= 4; p++ {
		reachFromOutside(t, "tcp", e.kernelPort(t, rec, "tcp", p), fmt.Sprintf("full-%d", p))
	}
	// Its ports still bind (UDP is not under all here: untouched).
	srv.Stop()
	mustServe(t, cg, "tcp", "127.0.0.1", "again", 1, 2, 3, 4).Stop()

	rec2, cg2 := e.allGroup(t, "second", ports.All{TCP: true}, pool)
	if _, res := servePorts(t, cg2, "tcp", "127.0.0.1", "second", 3000); !res[0].EADDRINUSE {
		t.Fatalf("bind in a second group while the pool is all held: %+v, want EADDRINUSE", res[0])
	}
	if err := Teardown(e.k, e.store, "full"); err != nil {
		t.Fatal(err)
	}
	mustServe(t, cg2, "tcp", "127.0.0.1", "second", 3000)
	if h := e.kernelPort(t, rec2, "tcp", 3000); !inPool(pool, h) {
		t.Fatalf("second group's 3000 on %d after the first went, want a pool port", h)
	}
}

// A pool port bound on the host behind sockshim's back (a TCP listener on
// 127.0.0.1 or on :: only, a UDP socket on 0.0.0.0 or ::1) is skipped, and
// is not held by anybody afterwards.
func TestAllSkipsPortsBoundOnTheHost(t *testing.T) {
	e := newEnv(t)
	a := uint16(23980)
	pool := Pool{Low: a, High: a + 3}
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for _, s := range []struct{ network, addr string }{
		{"tcp4", withPort("127.0.0.1", a)}, {"tcp6", withPort("::", a+1)},
		{"udp4", withPort("0.0.0.0", a+2)}, {"udp6", withPort("::1", a)},
	} {
		c, err := listenAny(s.network, s.addr)
		if err != nil {
			t.Fatalf("outside sockshim, %s %s: %v", s.network, s.addr, err)
		}
		closers = append(closers, c.Close)
	}
	rec, cg := e.allGroup(t, "skip", allBoth, pool)
	mustServe(t, cg, "tcp", "127.0.0.1", "skip", 3000)
	mustServe(t, cg, "udp", "127.0.0.1", "skip", 3000)
	if h := e.kernelPort(t, rec, "tcp", 3000); h != a+2 {
		t.Errorf("tcp 3000 on host port %d, want %d (%d and %d have TCP listeners)", h, a+2, a, a+1)
	}
	if h := e.kernelPort(t, rec, "udp", 3000); h != a+1 {
		t.Errorf("udp 3000 on host port %d, want %d (%d and %d have UDP sockets)", h, a+1, a, a+2)
	}
	held, _ := e.k.Holders()
	want := map[bpf.HostPort]uint64{{Proto: "tcp", Port: a + 2}: rec.CgroupID, {Proto: "udp", Port: a + 1}: rec.CgroupID}
	if fmt.Sprint(held) != fmt.Sprint(want) {
		t.Errorf("held host ports %v, want %v", held, want)
	}
}

// Under all, SO_REUSEPORT siblings share their host port and a plain second
// bind meets EADDRINUSE; a dual-stack listener is reached by 127.0.0.1 and
// ::1; IPv4 and IPv6 binds of one port share its host port; child cgroups
// are under all too; port 0 stays the kernel's.
func TestAllSocketSemantics(t *testing.T) {
	e := newEnv(t)
	rec, cg := e.allGroup(t, "sem", allBoth, testPool)
	var r testenv.ReuseportResult
	testenv.Run(t, cg, helperTimeout, &r, "reuseport", "127.0.0.1:3000")
	if len(r.Addrs) != 2 || portOf(t, r.Addrs[0]) != 3000 || portOf(t, r.Addrs[1]) != 3000 || !r.EADDRINUSE {
		t.Fatalf("SO_REUSEPORT listeners: %+v, want two on 3000 and EADDRINUSE for a plain one", r)
	}

	mustServe(t, cg, "tcp", "::", "dual", 4000)
	for _, host := range []string{"127.0.0.1", "::1"} {
		if d := dialPorts(t, cg, "tcp", host, 4000); d[0].Token != "dual-4000" || portOf(t, d[0].Addr) != 4000 {
			t.Errorf("inside, %s: %+v", withPort(host, 4000), d[0])
		}
	}
	mustServe(t, cg, "udp", "127.0.0.1", "v4", 5000)
	mustServe(t, cg, "udp", "::1", "v6", 5000)
	h := e.kernelPort(t, rec, "udp", 5000)
	reachFromOutside(t, "udp", h, "v4-5000")
	if d, err := testenv.DialToken("udp", withPort("::1", h)); err != nil || d.Token != "v6-5000" {
		t.Errorf("outside, udp [::1]:%d: %q, %v", h, d.Token, err)
	}

	child := testenv.Cgroup(t, cg, "child/grandchild")
	mustServe(t, child, "tcp", "127.0.0.1", "deep", 6000)
	reachFromOutside(t, "tcp", e.kernelPort(t, rec, "tcp", 6000), "deep-6000")

	_, res := servePorts(t, cg, "tcp", "127.0.0.1", "zero", 0)
	if p := portOf(t, res[0].Addr); p == 0 || inPool(testPool, p) {
		t.Errorf("port 0 bound to %d, want the kernel's choice", p)
	}
	if ms, _ := e.k.Mappings(rec.CgroupID); len(ms) != 4 {
		t.Errorf("mappings %v, want 3000, 4000, 6000/tcp and 5000/udp and nothing for port 0", ms)
	}
}

// Listed items beside all keep their host ports: a fixed one exactly, a
// pool one chosen at set-up; a later group's pool port is none of those an
// `all` group took at bind time, and a fixed host port it took is refused
// naming it.
func TestAllBesideListedPorts(t *testing.T) {
	e := newEnv(t)
	rec, cg := e.allGroup(t, "mixed", allBoth, testPool, ports.Mapping{Proto: "tcp", Port: 80, HostPort: 18090}, tcp(81))
	mustServe(t, cg, "tcp", "127.0.0.1", "mixed", 80, 81, 82)
	if h := e.kernelPort(t, rec, "tcp", 80); h != 18090 {
		t.Fatalf("80 on %d, want its fixed host port 18090", h)
	}
	if h := e.kernelPort(t, rec, "tcp", 81); h != hostPort(t, rec, "tcp", 81) {
		t.Fatalf("81 on %d, want its host port from set-up %d", h, hostPort(t, rec, "tcp", 81))
	}
	taken := e.kernelPort(t, rec, "tcp", 82)
	reachFromOutside(t, "tcp", 18090, "mixed-80")
	reachFromOutside(t, "tcp", taken, "mixed-82")

	listed, _ := e.group(t, "listed", false, tcp(3000), tcp(3001))
	for _, m := range listed.Ports {
		if m.HostPort == taken || m.HostPort == hostPort(t, rec, "tcp", 81) {
			t.Fatalf("listed group got host port %d, which mixed holds", m.HostPort)
		}
	}
	cg3 := testenv.Cgroup(t, e.parent, "fixed")
	_, err := Setup(e.k, e.store, recordFor("fixed", cg3, ports.Mapping{Proto: "tcp", Port: 80, HostPort: taken}), testPool)
	if err == nil || !contains(err, fmt.Sprint(taken), "mixed") {
		t.Fatalf("fixed host port an `all` group took: %v, want an error naming %d and mixed", err, taken)
	}
}

// Tearing a group down gives its ports back: nothing stays held or mapped.
func TestAllTeardownReleasesPorts(t *testing.T) {
	e := newEnv(t)
	before, _ := testenv.MapSizes(e.bpffs)
	rec, cg := e.allGroup(t, "gone", allBoth, testPool, tcp(81))
	mustServe(t, cg, "tcp", "127.0.0.1", "gone", 3000, 3001).Stop()
	mustServe(t, cg, "udp", "127.0.0.1", "gone", 3000).Stop()
	if held, _ := e.k.Holders(); len(held) != 4 {
		t.Fatalf("%d held host ports, want 4", len(held))
	}
	if err := Teardown(e.k, e.store, rec.ID); err != nil {
		t.Fatal(err)
	}
	after, _ := testenv.MapSizes(e.bpffs)
	sameMapSizes(t, before, after)
}

// gc gives back the ports of an `all` group whose cgroup and record are
// gone, also when nothing but its kernel entries is left to find it by.
func TestAllCollectReleasesPorts(t *testing.T) {
	e := newEnv(t)
	rec, cg := e.allGroup(t, "lost", allBoth, testPool)
	mustServe(t, cg, "tcp", "127.0.0.1", "lost", 3000).Stop()
	if err := e.store.Delete(rec.ID); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(cg); err != nil {
		t.Fatal(err)
	}
	removed, err := Collect(e.k, e.store)
	if err != nil || len(removed) != 1 || removed[0] != "lost" {
		t.Fatalf("gc removed %v (%v), want [lost]", removed, err)
	}
	if held, _ := e.k.Holders(); len(held) != 0 {
		t.Fatalf("after gc %v are still held", held)
	}
	if ms, _ := e.k.Mappings(rec.CgroupID); len(ms) != 0 {
		t.Fatalf("after gc the mappings %v are left", ms)
	}
}
