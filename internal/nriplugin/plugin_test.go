package nriplugin

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"

	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/internal/testenv"
)

const timeout = 30 * time.Second

func (r *testRuntime) record(c *container) *records.Record {
	r.t.Helper()
	rec, err := r.store.Read(c.api.Id)
	if err != nil {
		r.t.Fatalf("no record for %s: %v", c.api.Name, err)
	}
	return rec
}

func hostPortOf(t *testing.T, rec *records.Record, port uint16) uint16 {
	t.Helper()
	for _, m := range rec.Ports {
		if m.Port == port && m.Proto == "tcp" {
			return m.HostPort
		}
	}
	t.Fatalf("%s has no mapping for %d/tcp: %v", rec.ID, port, rec.Ports)
	return 0
}

// Three containers of one pod: two take the pod's io.sockshim.ports=3000,
// one overrides it with io.sockshim.ports/container.NAME=4000. Each server
// is reached by its virtual port from inside and by its host port from
// outside; bypass traffic between two of them goes through the redirect;
// stop and remove leave nothing.
func TestNRILifecycleWithPortsAndBypass(t *testing.T) {
	r := newRuntime(t)
	r.startPlugin()
	pod := r.pod("web", map[string]string{
		"io.sockshim.ports":                 "3000",
		"io.sockshim.bypass":                "true",
		"io.sockshim.ports/container.admin": "4000",
	})
	var ctrs []*container
	for _, c := range []struct{ name, listen string }{{"web-a", "3000"}, {"web-b", "3000"}, {"admin", "4000"}} {
		ctr, err := r.create(pod, c.name, nil, "listen", "tcp", "127.0.0.1:"+c.listen, c.name)
		if err != nil {
			t.Fatalf("CreateContainer %s: %v", c.name, err)
		}
		r.start(ctr)
		var l testenv.ListenResult
		ctr.proc.JSON(t, timeout, &l)
		if !strings.HasSuffix(l.Addr, ":"+c.listen) {
			t.Fatalf("%s: getsockname says %s, want port %s", c.name, l.Addr, c.listen)
		}
		rec := r.record(ctr)
		if rec.Kind != Kind || !rec.Bypass {
			t.Fatalf("%s: record %+v", c.name, rec)
		}
		var in, out testenv.DialResult
		testenv.Run(t, ctr.cg, timeout, &in, "dial", "tcp", "127.0.0.1:"+c.listen)
		var port uint16
		fmt.Sscan(c.listen, &port)
		testenv.Run(t, "", timeout, &out, "dial", "tcp", fmt.Sprintf("127.0.0.1:%d", hostPortOf(t, rec, port)))
		if in.Token != c.name || out.Token != c.name {
			t.Fatalf("%s: inside reached %q, outside %q", c.name, in.Token, out.Token)
		}
		ctrs = append(ctrs, ctr)
	}
	if a, b := hostPortOf(t, r.record(ctrs[0]), 3000), hostPortOf(t, r.record(ctrs[1]), 3000); a == b {
		t.Fatalf("two containers got host port %d", a)
	}
	if got := r.record(ctrs[2]).Ports; len(got) != 1 || got[0].Port != 4000 {
		t.Fatalf("the container override gave %v, want only 4000", got)
	}

	// Bypass between two containers of the pod.
	srv := testenv.Start(t, ctrs[0].cg, "exchange", "listen", "127.0.0.1:0", fmt.Sprint(16<<20), "1")
	var l testenv.ListenResult
	srv.JSON(t, timeout, &l)
	var rc, rs testenv.ExchangeResult
	testenv.Run(t, ctrs[1].cg, timeout, &rc, "exchange", "dial", l.Addr, fmt.Sprint(16<<20), "2")
	srv.JSON(t, timeout, &rs)
	if rs.SentSHA != rc.RecvSHA || rc.SentSHA != rs.RecvSHA {
		t.Fatal("bytes corrupted between two NRI containers")
	}
	// All but the first writes, or fewer when flow control moved the
	// sender to the normal path for a while (a switch is counted).
	if c, err := r.k.Counters(r.record(ctrs[1]).CgroupID); err != nil || c.Bytes == 0 || c.Bytes < (16<<20)*9/10 && c.NormalPath == 0 {
		t.Fatalf("redirected %d bytes with %d switches to the normal path (%v)", c.Bytes, c.NormalPath, err)
	}

	for _, c := range ctrs {
		r.stopAndRemove(c)
		if _, err := r.store.Read(c.api.Id); !os.IsNotExist(errUnwrap(err)) {
			t.Errorf("%s: record remains after stop and remove (%v)", c.api.Name, err)
		}
		if n, _ := testenv.AttachedPrograms(c.cg); n != 0 {
			t.Errorf("%s: %d programs still attached", c.api.Name, n)
		}
	}
}

func errUnwrap(err error) error {
	if err == nil {
		return nil
	}
	if os.IsNotExist(err) || strings.Contains(err.Error(), "no such file") {
		return os.ErrNotExist
	}
	return err
}

// A container whose annotation does not parse is refused at
// CreateContainer, with an error naming the annotation and the item.
func TestNRIBadAnnotationRefused(t *testing.T) {
	r := newRuntime(t)
	r.startPlugin()
	for i, value := range []string{"80000", "abc", "3000-2000"} {
		pod := r.pod(fmt.Sprint("bad", i), map[string]string{"io.sockshim.ports": value})
		_, err := r.create(pod, fmt.Sprint("bad", i), nil, "listen", "tcp", "127.0.0.1:0", "x")
		if err == nil || !strings.Contains(err.Error(), "io.sockshim.ports") || !strings.Contains(err.Error(), fmt.Sprintf("%q", value)) {
			t.Errorf("io.sockshim.ports=%s: CreateContainer error %v, want one naming the annotation and the item", value, err)
		}
	}
	pod := r.pod("badbypass", map[string]string{"io.sockshim.bypass": "maybe"})
	if _, err := r.create(pod, "badbypass", nil, "listen", "tcp", "127.0.0.1:0", "x"); err == nil || !strings.Contains(err.Error(), "io.sockshim.bypass") {
		t.Errorf("io.sockshim.bypass=maybe: %v", err)
	}
	if recs, _ := r.store.List(); len(recs) != 0 {
		t.Fatalf("refused containers left records: %v", recs)
	}
}

// The plugin restarts: running containers keep their host ports and their
// live connections; a container started while the plugin was away is set up
// at Synchronize; one removed while it was away loses its record.
func TestNRIPluginRestartSynchronize(t *testing.T) {
	r := newRuntime(t)
	stop := r.startPlugin()
	pod := r.pod("svc", map[string]string{"io.sockshim.ports": "3000", "io.sockshim.bypass": "true"})
	keep, err := r.create(pod, "keep", nil, "listen", "tcp", "127.0.0.1:3000", "keep")
	if err != nil {
		t.Fatal(err)
	}
	r.start(keep)
	keep.proc.JSON(t, timeout, &testenv.ListenResult{})
	gone, err := r.create(pod, "gone", nil, "listen", "tcp", "127.0.0.1:3000", "gone")
	if err != nil {
		t.Fatal(err)
	}
	r.start(gone)
	gone.proc.JSON(t, timeout, &testenv.ListenResult{})
	keepHost := hostPortOf(t, r.record(keep), 3000)

	// A transfer started before the restart completes intact.
	srv := testenv.Start(t, keep.cg, "exchange", "listen", "127.0.0.1:0", fmt.Sprint(64<<20), "5")
	var l testenv.ListenResult
	srv.JSON(t, timeout, &l)
	cli := testenv.Start(t, gone.cg, "exchange", "dial", l.Addr, fmt.Sprint(64<<20), "6")

	stop() // the plugin goes away
	// While it is away: "gone" is removed by the runtime (no plugin sees
	// it), "late" is created and started without the plugin.
	r.mu.Lock()
	delete(r.ctrs, gone.api.Id)
	r.mu.Unlock()
	late, err := r.create(pod, "late", nil, "listen", "tcp", "127.0.0.1:3000", "late")
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	late.api.State = api.ContainerState_CONTAINER_RUNNING // started while no plugin listened
	r.mu.Unlock()

	r.startPlugin()
	os.WriteFile(late.goes, nil, 0o600)
	late.proc.JSON(t, timeout, &testenv.ListenResult{})

	var rs, rc testenv.ExchangeResult
	srv.JSON(t, timeout, &rs)
	cli.JSON(t, timeout, &rc)
	if rs.SentSHA != rc.RecvSHA || rc.SentSHA != rs.RecvSHA || rs.Recv != 64<<20 || rc.Recv != 64<<20 {
		t.Fatal("a transfer running across the plugin restart was disturbed")
	}
	if got := hostPortOf(t, r.record(keep), 3000); got != keepHost {
		t.Fatalf("the restart moved keep's host port from %d to %d", keepHost, got)
	}
	var d testenv.DialResult
	testenv.Run(t, "", timeout, &d, "dial", "tcp", fmt.Sprintf("127.0.0.1:%d", keepHost))
	if d.Token != "keep" {
		t.Fatalf("keep's host port reached %q after the restart", d.Token)
	}
	if _, err := r.store.Read(gone.api.Id); err == nil {
		t.Fatal("Synchronize kept the record of a container the runtime no longer has")
	}
	lateRec := r.record(late)
	var in testenv.DialResult
	testenv.Run(t, late.cg, timeout, &in, "dial", "tcp", "127.0.0.1:3000")
	if in.Token != "late" || hostPortOf(t, lateRec, 3000) == keepHost {
		t.Fatalf("the container started while the plugin was away: reached %q, record %v", in.Token, lateRec.Ports)
	}
}
