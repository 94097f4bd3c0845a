package group

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/internal/testenv"
)

// env is one test's private sockshim: its own bpffs, state directory and
// parent cgroup, all removed in cleanup; the root cgroup is checked to stay
// untouched.
type env struct {
	k        *bpf.Kernel
	bpffs    string
	store    *records.Store
	stateDir string
	parent   string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	// First, so that its check runs after every teardown.
	testenv.WatchKernelLog(t)
	root := testenv.BPFFS(t)
	k, err := bpf.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	stateDir := t.TempDir()
	store, err := records.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{k: k, bpffs: root, store: store, stateDir: stateDir, parent: testenv.CgroupParent(t)}
	mnt := testenv.CgroupMount(t)
	t.Cleanup(func() {
		if n, err := testenv.AttachedPrograms(mnt); err != nil || n != 0 {
			t.Errorf("root cgroup %s has %d programs attached (%v)", mnt, n, err)
		}
	})
	return e
}

// group sets a group up in a new child cgroup and tears it down in cleanup.
func (e *env) group(t *testing.T, name string, bypass bool, ports ...ports.Mapping) (*records.Record, string) {
	t.Helper()
	return e.setUp(t, records.Record{ID: name, Kind: records.KindRun, Bypass: bypass, Ports: ports}, testPool)
}

// setUp sets want up in a new child cgroup named for it, from pool, and
// tears it down in cleanup.
func (e *env) setUp(t *testing.T, want records.Record, pool Pool) (*records.Record, string) {
	t.Helper()
	want.Cgroup = testenv.Cgroup(t, e.parent, want.ID)
	rec, err := Setup(e.k, e.store, want, pool)
	if err != nil {
		t.Fatalf("set up %s: %v", want.ID, err)
	}
	t.Cleanup(func() {
		if err := Teardown(e.k, e.store, want.ID); err != nil {
			t.Errorf("tear down %s: %v", want.ID, err)
		}
	})
	return rec, want.Cgroup
}

// sameMapSizes fails for each map whose entry count changed.
func sameMapSizes(t *testing.T, before, after map[string]int) {
	t.Helper()
	for name, n := range before {
		if after[name] != n {
			t.Errorf("map %s: %d entries after, %d before", name, after[name], n)
		}
	}
}

func tcp(port uint16) ports.Mapping { return ports.Mapping{Proto: "tcp", Port: port} }
func udp(port uint16) ports.Mapping { return ports.Mapping{Proto: "udp", Port: port} }

func hostPort(t *testing.T, rec *records.Record, proto string, port uint16) uint16 {
	t.Helper()
	for _, m := range rec.Ports {
		if m.Proto == proto && m.Port == port {
			return m.HostPort
		}
	}
	t.Fatalf("%s has no mapping for %d/%s: %v", rec.ID, port, proto, rec.Ports)
	return 0
}

func portOf(t *testing.T, addr string) uint16 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, _ := strconv.Atoi(p)
	return uint16(n)
}

func withPort(host string, port uint16) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

const helperTimeout = 30 * time.Second

// testPool is this package's part of the pool: test packages run in
// parallel with their own state, so they must not allocate the same ports.
var testPool = Pool{Low: 20000, High: 23999}
