package nriplugin

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/sockshim/sockshim/internal/group"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/internal/testenv"
	"github.com/sockshim/sockshim/oci"
)

// Each reason from the error the core (or the parser) returns, wrapped as
// the plugin and the core wrap them.
func TestFailureReason(t *testing.T) {
	mnt := testenv.CgroupMount(t)
	wrap := func(err error) error { return fmt.Errorf("sockshim: container x: %w", err) }
	for _, c := range []struct {
		err  error
		pid  int
		want string
	}{
		{wrap(oci.AnnotationError(oci.AnnotationPorts, &oci.PortError{Item: "abc", Reason: "not a port"})), 1, reasonBadAnnotation},
		{wrap(errors.New("the runtime gave no pid")), 0, reasonNoPid},
		{wrap(group.ErrOwnNetwork), 1, reasonOwnNetwork},
		{wrap(fmt.Errorf("ctr %w", group.ErrAlreadySetUp)), 1, reasonAlreadySetUp},
		{wrap(errors.Join(fmt.Errorf("attach: %w", ebpf.ErrNotSupported), errors.New("roll back"))), 1, reasonKernel},
		{wrap(&ebpf.VerifierError{}), 1, reasonKernel},
		{wrap(fmt.Errorf("move: %w", &fs.PathError{Op: "write", Path: filepath.Join(mnt, "x", "cgroup.procs"), Err: syscall.EBUSY})), 1, reasonCgroup},
		{wrap(&fs.PathError{Op: "open", Path: "/proc/1/cgroup", Err: syscall.ENOENT}), 1, reasonOther},
		{wrap(errors.New("no free host port left in the pool")), 1, reasonOther},
	} {
		if got := failureReason(c.err, c.pid); got != c.want {
			t.Errorf("%v (pid %d): %s, want %s", c.err, c.pid, got, c.want)
		}
	}
}

// The core's nil record without error, for settings that ask for
// something, is a container with its own network namespace; settings that
// ask for nothing are no set-up at all.
func TestSetUpOwnNetworkCounted(t *testing.T) {
	store, err := records.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Nothing pinned there: the scrape has no kernel counters, and says so
	// by leaving them out, not by failing.
	m, err := NewMetrics(MetricsConfig{Store: store, BPFFS: filepath.Join(t.TempDir(), "none")})
	if err != nil {
		t.Fatal(err)
	}
	m.setUp(oci.Settings{Bypass: true}, 42, nil, nil, 0)
	m.setUp(oci.Settings{}, 42, nil, nil, 0)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	s := scrape(t, srv.URL)
	checkCount(t, s, "sockshim_setup_total", 1, "result", "failed")
	checkCount(t, s, "sockshim_setup_failures_total", 1, "reason", reasonOwnNetwork)
	checkCount(t, s, "sockshim_setup_total", 0, "result", "ok")
}
