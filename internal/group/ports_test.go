package group

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/internal/testenv"
)

// Two groups bind TCP and UDP 3000 on every kind of local address at once;
// each reaches its own server by 3000 and sees 3000; outsiders reach each by
// its host port.
func TestTwoGroupsShareVirtualPort(t *testing.T) {
	e := newEnv(t)
	r1, cg1 := e.group(t, "g1", false, tcp(3000), udp(3000))
	r2, cg2 := e.group(t, "g2", false, tcp(3000), udp(3000))
	outsider := testenv.Cgroup(t, e.parent, "outsider")

	for _, proto := range []string{"tcp", "udp"} {
		h1, h2 := hostPort(t, r1, proto, 3000), hostPort(t, r2, proto, 3000)
		if h1 == h2 {
			t.Fatalf("%s: both groups got host port %d", proto, h1)
		}
		for _, h := range []uint16{h1, h2} {
			if h < testPool.Low || h > testPool.High {
				t.Fatalf("%s: host port %d is outside the pool %s", proto, h, testPool)
			}
		}
	}

	cases := []struct {
		listen string
		dial   []string // hosts a client reaches the listener on
	}{
		{"0.0.0.0", []string{"127.0.0.1"}},
		{"127.0.0.1", []string{"127.0.0.1"}},
		{"::", []string{"127.0.0.1", "::1"}},
		{"::1", []string{"::1"}},
	}
	for _, proto := range []string{"tcp", "udp"} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s", proto, c.listen), func(t *testing.T) {
				groups := []struct {
					name string
					cg   string
					host uint16
				}{{"g1", cg1, hostPort(t, r1, proto, 3000)}, {"g2", cg2, hostPort(t, r2, proto, 3000)}}
				for _, g := range groups {
					token := g.name + "-" + proto
					p := testenv.Start(t, g.cg, "listen", proto, withPort(c.listen, 3000), token)
					var l testenv.ListenResult
					p.JSON(t, helperTimeout, &l)
					if got := portOf(t, l.Addr); got != 3000 {
						t.Fatalf("%s: getsockname says port %d, want 3000 (%s)", g.name, got, l.Addr)
					}
				}
				for _, g := range groups {
					for _, host := range c.dial {
						var d testenv.DialResult
						testenv.Run(t, g.cg, helperTimeout, &d, "dial", proto, withPort(host, 3000))
						if d.Token != g.name+"-"+proto {
							t.Errorf("%s dialing %s: reached %q, want its own server", g.name, withPort(host, 3000), d.Token)
						}
						if got := portOf(t, d.Remote); got != 3000 {
							t.Errorf("%s dialing %s: peer port seen as %d, want 3000", g.name, host, got)
						}
						var o testenv.DialResult
						testenv.Run(t, outsider, helperTimeout, &o, "dial", proto, withPort(host, g.host))
						if o.Token != g.name+"-"+proto {
							t.Errorf("outsider dialing %s: reached %q, want %s's server", withPort(host, g.host), o.Token, g.name)
						}
						if got := portOf(t, o.Remote); got != g.host {
							t.Errorf("outsider sees peer port %d, want the host port %d", got, g.host)
						}
					}
				}
			})
		}
	}
}

func TestFixedHostPort(t *testing.T) {
	e := newEnv(t)
	rec, cg := e.group(t, "fixed", false, ports.Mapping{Proto: "tcp", Port: 3000, HostPort: 18080})
	if h := hostPort(t, rec, "tcp", 3000); h != 18080 {
		t.Fatalf("host port %d, want 18080", h)
	}
	testenv.Start(t, cg, "listen", "tcp", "0.0.0.0:3000", "fixed").JSON(t, helperTimeout, &testenv.ListenResult{})
	var d testenv.DialResult
	testenv.Run(t, "", helperTimeout, &d, "dial", "tcp", "127.0.0.1:18080")
	if d.Token != "fixed" {
		t.Fatalf("127.0.0.1:18080 reached %q, want the group's server", d.Token)
	}
}

func TestFixedHostPortTakenIsRefused(t *testing.T) {
	e := newEnv(t)
	l, err := net.Listen("tcp4", "127.0.0.1:18081")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cg := testenv.Cgroup(t, e.parent, "taken")
	_, err = Setup(e.k, e.store, records.Record{ID: "taken", Cgroup: cg,
		Ports: []ports.Mapping{{Proto: "tcp", Port: 3000, HostPort: 18081}}}, testPool)
	if err == nil || !strings.Contains(err.Error(), "18081") {
		t.Fatalf("setup with a taken host port: %v, want an error naming 18081", err)
	}
	if n, _ := testenv.AttachedPrograms(cg); n != 0 {
		t.Fatalf("refused group has %d programs attached", n)
	}
	if _, err := e.store.Read("taken"); err == nil {
		t.Fatal("refused group left a record")
	}
	// A fixed port another group holds is refused too.
	e.group(t, "holder", false, ports.Mapping{Proto: "tcp", Port: 80, HostPort: 18082})
	cg2 := testenv.Cgroup(t, e.parent, "second")
	_, err = Setup(e.k, e.store, records.Record{ID: "second", Cgroup: cg2,
		Ports: []ports.Mapping{{Proto: "tcp", Port: 80, HostPort: 18082}}}, testPool)
	if err == nil || !strings.Contains(err.Error(), "18082") || !strings.Contains(err.Error(), "holder") {
		t.Fatalf("setup with another group's host port: %v, want an error naming 18082 and holder", err)
	}
}

// The kernel's claims decide which host ports are held, also a group's
// without a record (an `all` group's bind, or a record lost): the pool skips
// them, a fixed port among them is refused, and none of them is released.
func TestPoolSkipsPortsClaimedInTheKernel(t *testing.T) {
	e := newEnv(t)
	const other = 1 << 40 // no cgroup has this id
	pool := Pool{Low: 20100, High: 20199}
	for port := pool.Low; port < pool.Low+10; port++ {
		if holder, err := e.k.ClaimHostPort("tcp", port, other); err != nil || holder != other {
			t.Fatalf("claim %d for another group: held by %d, %v", port, holder, err)
		}
	}
	rec, _ := e.setUp(t, records.Record{ID: "pooled", Ports: []ports.Mapping{tcp(3000), udp(53)}}, pool)
	if h := hostPort(t, rec, "tcp", 3000); h != pool.Low+10 {
		t.Errorf("tcp host port %d, want %d, the first not claimed", h, pool.Low+10)
	}
	if h := hostPort(t, rec, "udp", 53); h != pool.Low {
		t.Errorf("udp host port %d, want %d: the claims were tcp's", h, pool.Low)
	}
	cg := testenv.Cgroup(t, e.parent, "fixed")
	_, err := Setup(e.k, e.store, records.Record{ID: "fixed", Cgroup: cg,
		Ports: []ports.Mapping{{Proto: "tcp", Port: 80, HostPort: pool.Low + 3}}}, pool)
	if err == nil || !strings.Contains(err.Error(), "20103/tcp is already taken by another group (cgroup id 1099511627776)") {
		t.Fatalf("fixed host port claimed in the kernel: %v, want it refused naming the holder's cgroup id", err)
	}
	holders, err := e.k.Holders()
	if err != nil {
		t.Fatal(err)
	}
	for port := pool.Low; port < pool.Low+10; port++ {
		if h := holders[bpf.HostPort{Proto: "tcp", Port: port}]; h != other {
			t.Errorf("host port %d/tcp held by %d after the set-ups, want %d", port, h, uint64(other))
		}
	}
}

func TestReuseportSharesHostPort(t *testing.T) {
	e := newEnv(t)
	_, cg := e.group(t, "reuse", false, tcp(3000))
	var r testenv.ReuseportResult
	testenv.Run(t, cg, helperTimeout, &r, "reuseport", "127.0.0.1:3000")
	if len(r.Addrs) != 2 || portOf(t, r.Addrs[0]) != 3000 || portOf(t, r.Addrs[1]) != 3000 {
		t.Fatalf("SO_REUSEPORT listeners: %v, want two on 3000", r.Addrs)
	}
	if !r.EADDRINUSE {
		t.Fatalf("plain second bind: %q, want EADDRINUSE", r.PlainError)
	}
}

// Ports not listed stay as they are.
func TestUnlistedPortUntouched(t *testing.T) {
	e := newEnv(t)
	_, cg := e.group(t, "listed", false, tcp(3000))
	p := testenv.Start(t, cg, "listen", "tcp", "127.0.0.1:0", "plain")
	var l testenv.ListenResult
	p.JSON(t, helperTimeout, &l)
	var d testenv.DialResult
	testenv.Run(t, "", helperTimeout, &d, "dial", "tcp", l.Addr)
	if d.Token != "plain" {
		t.Fatalf("unlisted port %s reached %q", l.Addr, d.Token)
	}
}
