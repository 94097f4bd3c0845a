package nriplugin

import (
	"context"
	"fmt"
	"testing"

	nri "github.com/containerd/nri/pkg/adaptation"

	"github.com/sockshim/sockshim/internal/testenv"
)

// Two bypass containers of one pod, each mapping 3000, scraped over HTTP at
// each step: the set-up counted with its latency, the container's names and
// mapping, the bytes they exchange as the kernel counts them, the
// tear-down at stop (once, though remove tears down again), and the
// container's series gone with it.
func TestNRIMetricsLifecycle(t *testing.T) {
	r := newRuntime(t)
	url := r.serveMetrics()
	r.startPlugin()
	pod := r.pod("shop", map[string]string{"io.sockshim.ports": "3000", "io.sockshim.bypass": "true"})
	start := func(name string) *container {
		c, err := r.create(pod, name, nil, "listen", "tcp", "127.0.0.1:3000", name)
		if err != nil {
			t.Fatalf("CreateContainer %s: %v", name, err)
		}
		r.start(c)
		c.proc.JSON(t, timeout, &testenv.ListenResult{})
		return c
	}

	a := start("cart")
	s := scrape(t, url)
	checkCount(t, s, "sockshim_setup_total", 1, "result", "ok")
	checkCount(t, s, "sockshim_setup_total", 0, "result", "failed")
	checkCount(t, s, "sockshim_setup_duration_seconds_count", 1)
	if sum := value(t, s, "sockshim_setup_duration_seconds_sum", nil); sum <= 0 || sum > 5 {
		t.Errorf("set-up took %v s", sum)
	}
	aHost := hostPortOf(t, r.record(a), 3000)
	if v := value(t, s, "sockshim_container_port_mapping_info", portSeries(a, 3000, aHost)); v != 1 {
		t.Errorf("mapping of %s: %v, want 1", a.api.Name, v)
	}
	checkCount(t, s, "sockshim_container_redirected_bytes_total", 0, "container_id", a.api.Id)

	b := start("checkout")
	// Bytes both ways between the two containers, through the redirect.
	srv := testenv.Start(t, a.cg, "exchange", "listen", "127.0.0.1:0", fmt.Sprint(8<<20), "1")
	var l testenv.ListenResult
	srv.JSON(t, timeout, &l)
	var rc, rs testenv.ExchangeResult
	testenv.Run(t, b.cg, timeout, &rc, "exchange", "dial", l.Addr, fmt.Sprint(8<<20), "2")
	srv.JSON(t, timeout, &rs)
	if rs.SentSHA != rc.RecvSHA || rc.SentSHA != rs.RecvSHA {
		t.Fatal("bytes corrupted between the two containers")
	}
	// Each container's count is the kernel's, read around the scrape;
	// together they moved (flow control may send one's writes by TCP).
	var moved float64
	for _, c := range []*container{a, b} {
		id := r.record(c).CgroupID
		before, err := r.k.Counters(id)
		if err != nil {
			t.Fatal(err)
		}
		s = scrape(t, url)
		after, err := r.k.Counters(id)
		if err != nil {
			t.Fatal(err)
		}
		got := value(t, s, "sockshim_container_redirected_bytes_total", ofContainer(c))
		moved += got
		if got < float64(before.Bytes) || got > float64(after.Bytes) {
			t.Errorf("%s: redirected bytes %v, the kernel counted %d then %d", c.api.Name, got, before.Bytes, after.Bytes)
		}
		for name, n := range map[string][2]uint64{
			"sockshim_container_redirected_messages_total":  {before.Messages, after.Messages},
			"sockshim_container_normal_path_switches_total": {before.NormalPath, after.NormalPath},
			"sockshim_container_left_map_total":             {before.LeftMap, after.LeftMap},
		} {
			if got := value(t, s, name, ofContainer(c)); got < float64(n[0]) || got > float64(n[1]) {
				t.Errorf("%s: %s %v, the kernel counted %d then %d", c.api.Name, name, got, n[0], n[1])
			}
		}
	}
	if moved == 0 {
		t.Error("no byte went through the redirect")
	}
	checkCount(t, s, "sockshim_setup_total", 2, "result", "ok")

	// Stop: one tear-down, the container's series gone; remove finds
	// nothing more to tear down.
	a.proc.Wait(0)
	ctx := context.Background()
	if _, err := r.nri.StopContainer(ctx, &nri.StopContainerRequest{Pod: a.pod, Container: a.api}); err != nil {
		t.Fatal(err)
	}
	s = scrape(t, url)
	checkCount(t, s, "sockshim_teardown_total", 1, "result", "ok")
	checkCount(t, s, "sockshim_teardown_total", 0, "result", "failed")
	if got := find(s, "sockshim_container_port_mapping_info", labels("container_id", a.api.Id)); len(got) != 0 {
		t.Errorf("a stopped container is still reported: %v", got)
	}
	value(t, s, "sockshim_container_port_mapping_info", ofContainer(b))
	if err := r.nri.RemoveContainer(ctx, &nri.RemoveContainerRequest{Pod: a.pod, Container: a.api}); err != nil {
		t.Fatal(err)
	}
	checkCount(t, scrape(t, url), "sockshim_teardown_total", 1, "result", "ok")
	r.mu.Lock()
	delete(r.ctrs, a.api.Id)
	r.mu.Unlock()
	r.stopAndRemove(b)
	s = scrape(t, url)
	checkCount(t, s, "sockshim_teardown_total", 2, "result", "ok")
	if got := find(s, "sockshim_container_port_mapping_info", nil); len(got) != 0 {
		t.Errorf("containers still reported after their removal: %v", got)
	}
}

// A bad annotation is refused at CreateContainer and counted as a failed
// set-up for that reason; a container the runtime gives no pid is counted
// as no_pid.
func TestNRIMetricsFailures(t *testing.T) {
	r := newRuntime(t)
	url := r.serveMetrics()
	r.startPlugin()
	pod := r.pod("bad", map[string]string{"io.sockshim.ports": "abc"})
	if _, err := r.create(pod, "bad", nil, "listen", "tcp", "127.0.0.1:0", "x"); err == nil {
		t.Fatal("a bad annotation was not refused")
	}
	s := scrape(t, url)
	checkCount(t, s, "sockshim_setup_total", 1, "result", "failed")
	checkCount(t, s, "sockshim_setup_total", 0, "result", "ok")
	checkCount(t, s, "sockshim_setup_failures_total", 1, "reason", reasonBadAnnotation)
	for _, reason := range failureReasons[1:] {
		checkCount(t, s, "sockshim_setup_failures_total", 0, "reason", reason)
	}

	c, err := r.create(r.pod("nopid", map[string]string{"io.sockshim.ports": "3000"}), "nopid", nil, "listen", "tcp", "127.0.0.1:0", "x")
	if err != nil {
		t.Fatal(err)
	}
	c.api.Pid = 0
	// The runtime may only log a plugin's failed start: the count tells.
	r.nri.StartContainer(context.Background(), &nri.StartContainerRequest{Pod: c.pod, Container: c.api})
	s = scrape(t, url)
	checkCount(t, s, "sockshim_setup_total", 2, "result", "failed")
	checkCount(t, s, "sockshim_setup_failures_total", 1, "reason", reasonNoPid)
	checkCount(t, s, "sockshim_setup_duration_seconds_count", 0)
}

// A restarted plugin has new metrics and no names: Synchronize gives the
// containers already set up their names back, and does not count them as
// set up again.
func TestNRIMetricsAfterRestart(t *testing.T) {
	r := newRuntime(t)
	stop := r.startPlugin()
	pod := r.pod("kept", map[string]string{"io.sockshim.ports": "3000"})
	c, err := r.create(pod, "kept", nil, "listen", "tcp", "127.0.0.1:3000", "kept")
	if err != nil {
		t.Fatal(err)
	}
	r.start(c)
	c.proc.JSON(t, timeout, &testenv.ListenResult{})
	stop()

	url := r.serveMetrics()
	r.startPlugin()
	s := scrape(t, url)
	if v := value(t, s, "sockshim_container_port_mapping_info", portSeries(c, 3000, hostPortOf(t, r.record(c), 3000))); v != 1 {
		t.Errorf("mapping after the restart: %v", v)
	}
	checkCount(t, s, "sockshim_setup_total", 0, "result", "ok")
	// No bypass: no redirect counters for it.
	if got := find(s, "sockshim_container_redirected_bytes_total", nil); len(got) != 0 {
		t.Errorf("redirect counters for a container without the bypass: %v", got)
	}
}
