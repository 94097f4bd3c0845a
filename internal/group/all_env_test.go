package group

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/internal/testenv"
)

var allBoth = ports.All{TCP: true, UDP: true}

// allGroup sets up an `all` group taking ports from pool in a new child
// cgroup, torn down in cleanup.
func (e *env) allGroup(t *testing.T, name string, all ports.All, pool Pool, listed ...ports.Mapping) (*records.Record, string) {
	t.Helper()
	return e.setUp(t, records.Record{ID: name, Kind: records.KindRun, Ports: listed, All: all}, pool)
}

// kernelPort is the host port the kernel maps a group's port to (0: none).
func (e *env) kernelPort(t *testing.T, rec *records.Record, proto string, port uint16) uint16 {
	t.Helper()
	ms, err := e.k.Mappings(rec.CgroupID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Proto == proto && m.Port == port {
			return m.HostPort
		}
	}
	return 0
}

// servePorts binds ports on host in cgroup cg and serves token-PORT on each;
// it returns the helper and what each bind gave.
func servePorts(t *testing.T, cg, proto, host, token string, ps ...uint16) (*testenv.Proc, []testenv.PortResult) {
	t.Helper()
	args := []string{"serveports", proto, host, token}
	for _, p := range ps {
		args = append(args, fmt.Sprint(p))
	}
	p := testenv.Start(t, cg, args...)
	var r testenv.PortsResult
	p.JSON(t, helperTimeout, &r)
	return p, r.Ports
}

// mustServe is servePorts where every bind must succeed and getsockname
// must say the port asked for.
func mustServe(t *testing.T, cg, proto, host, token string, ps ...uint16) *testenv.Proc {
	t.Helper()
	p, res := servePorts(t, cg, proto, host, token, ps...)
	for _, r := range res {
		if r.Error != "" {
			t.Fatalf("%s bind of %s in %s: %s", proto, withPort(host, r.Port), cg, r.Error)
		}
		if got := portOf(t, r.Addr); got != r.Port {
			t.Fatalf("%s bind of %d: getsockname says %s", proto, r.Port, r.Addr)
		}
	}
	return p
}

// dialPorts fetches the token of each port on host from inside cgroup cg.
func dialPorts(t *testing.T, cg, proto, host string, ps ...uint16) []testenv.PortResult {
	t.Helper()
	args := []string{"dialports", proto, host}
	for _, p := range ps {
		args = append(args, fmt.Sprint(p))
	}
	var r testenv.PortsResult
	testenv.Run(t, cg, 2*helperTimeout, &r, args...)
	return r.Ports
}

// reachFromOutside checks that host port h, dialled from the test's own
// cgroup (outside every group), reaches the server saying want.
func reachFromOutside(t *testing.T, proto string, h uint16, want string) {
	t.Helper()
	d, err := testenv.DialToken(proto, withPort("127.0.0.1", h))
	if err != nil || d.Token != want {
		t.Errorf("outside, %s 127.0.0.1:%d: %q, %v; want %q", proto, h, d.Token, err, want)
	}
}

func inPool(p Pool, h uint16) bool { return h >= p.Low && h <= p.High }

// listenAny binds addr outside every group: a TCP listener or a UDP socket.
func listenAny(network, addr string) (io.Closer, error) {
	if strings.HasPrefix(network, "udp") {
		return net.ListenPacket(network, addr)
	}
	return net.Listen(network, addr)
}

func recordFor(name, cg string, ps ...ports.Mapping) records.Record {
	return records.Record{ID: name, Kind: records.KindRun, Cgroup: cg, Ports: ps}
}

// contains reports whether err's text holds every one of parts.
func contains(err error, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			return false
		}
	}
	return true
}
