package group

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/testenv"
)

const nobody = 65534

// bindAsNobody runs testdata/bindas.py as nobody (no capability) in cgroup
// cg ("" for none): it binds ports on host, then serves TOKEN-PORT on them.
func bindAsNobody(t *testing.T, cg, proto, host, token string, ps ...uint16) []testenv.PortResult {
	t.Helper()
	script, err := os.ReadFile(filepath.Join("testdata", "bindas.py"))
	if err != nil {
		t.Fatal(err)
	}
	// The system's python3: one under root's home (pyenv) is out of
	// nobody's reach.
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("%s is needed (make test installs python3): %v", py, err)
	}
	argv := []string{py, "-c", string(script), proto, host, token}
	for _, p := range ps {
		argv = append(argv, fmt.Sprint(p))
	}
	p := testenv.StartCommandAs(t, cg, nobody, nobody, argv...)
	var r testenv.PortsResult
	p.JSON(t, helperTimeout, &r)
	return r.Ports
}

// freeLowPort is a port below 1024 that nothing holds on the host, for TCP.
func freeLowPort(t *testing.T) uint16 {
	t.Helper()
	for p := uint16(1023); p > 900; p-- {
		if hostPortFree("tcp", p, true) {
			return p
		}
	}
	t.Skip("no free TCP port in 901-1023 on this host")
	return 0
}

// A process without CAP_NET_BIND_SERVICE binds ports below 1024 in a
// group, as in a network namespace of its own: under all (80/tcp and
// 53/udp land on pool ports), and a listed 80 on a fixed host port below
// 1024, which only the bind program's waiver lets it take. Outside a group
// the same process gets EACCES.
func TestPrivilegedPortsWithoutCapability(t *testing.T) {
	if hostPortFree("tcp", 80, true) {
		if r := bindAsNobody(t, "", "tcp", "127.0.0.1", "outside", 80); r[0].Error != "EACCES" {
			t.Fatalf("nobody binding 80 outside any group: %+v, want EACCES (does it have CAP_NET_BIND_SERVICE?)", r[0])
		}
	}
	e := newEnv(t)
	rec, cg := e.allGroup(t, "all", allBoth, testPool)
	for _, c := range []struct {
		proto string
		port  uint16
	}{{"tcp", 80}, {"tcp", 443}, {"udp", 53}} {
		r := bindAsNobody(t, cg, c.proto, "0.0.0.0", "all", c.port)
		if r[0].Error != "" || portOf(t, r[0].Addr) != c.port {
			t.Fatalf("nobody binding %d/%s under all: %+v", c.port, c.proto, r[0])
		}
		h := e.kernelPort(t, rec, c.proto, c.port)
		if !inPool(testPool, h) {
			t.Fatalf("%d/%s on host port %d, want a pool port", c.port, c.proto, h)
		}
		reachFromOutside(t, c.proto, h, fmt.Sprintf("all-%d", c.port))
	}

	low := freeLowPort(t)
	_, fixed := e.allGroup(t, "fixed", ports.All{}, testPool, ports.Mapping{Proto: "tcp", Port: 80, HostPort: low})
	r := bindAsNobody(t, fixed, "tcp", "::", "fixed", 80)
	if r[0].Error != "" || portOf(t, r[0].Addr) != 80 {
		t.Fatalf("nobody binding 80 mapped to host port %d: %+v, want bound", low, r[0])
	}
	reachFromOutside(t, "tcp", low, "fixed-80")
}
