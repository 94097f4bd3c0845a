package group

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/internal/testenv"
	"github.com/sockshim/sockshim/oci"
)

// BenchmarkContainerStartStop times what the OCI hook does for a container
// with a TCP port and the bypass, without the hook's own process start:
// open the store and the pinned objects, set up (prestart), then tear down
// (poststop), each through a fresh Core as a hook process has. "beside"
// keeps another container set up meanwhile, as on a host already running
// containers. The two should measure alike: the anchor (bpf/anchor.go)
// keeps the kernel from turning the attach types' static keys on and off
// for a lone container; without it "alone" took 0.8 ms more each way.
// "records=1000" starts beside the records and host port claims of 1,000
// other containers (not running: only what a set-up reads of them).
func BenchmarkContainerStartStop(b *testing.B) {
	b.Run("alone", func(b *testing.B) { benchStartStop(b, false, 0) })
	b.Run("beside", func(b *testing.B) { benchStartStop(b, true, 0) })
	b.Run("records=1000", func(b *testing.B) { benchStartStop(b, false, 1000) })
}

func benchStartStop(b *testing.B, beside bool, others int) {
	e := newEnv(b)
	for i := range others {
		id, port := uint64(1<<40+i), uint16(testPool.Low)+uint16(i)
		if holder, err := e.k.ClaimHostPort("tcp", port, id); err != nil || holder != id {
			b.Fatalf("claim %d for another group: held by %d, %v", port, holder, err)
		}
		if err := e.store.Write(&records.Record{ID: fmt.Sprintf("other-%d", i), Kind: records.KindContainer, CgroupID: id,
			Ports: []ports.Mapping{{Proto: "tcp", Port: 80, HostPort: port}}}); err != nil {
			b.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	settings := oci.Settings{Bypass: true, Ports: []ports.Mapping{{Proto: "tcp", Port: 3000}}}
	start := func(id string, pid int) {
		c, err := Open(e.bpffs, e.stateDir, log)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, err := c.StartContainer(Container{Kind: records.KindContainer, ID: id, Pid: pid, Settings: settings, Pool: testPool}); err != nil {
			b.Fatal(err)
		}
	}
	stop := func(id string) {
		c, err := Open(e.bpffs, e.stateDir, log)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.StopContainer(id); err != nil {
			b.Fatal(err)
		}
	}
	if beside {
		other := testenv.StartCommand(b, testenv.Cgroup(b, e.parent, "beside"), "sleep", "600")
		start("beside", other.Pid())
		b.Cleanup(func() { stop("beside") })
	}
	p := testenv.StartCommand(b, testenv.Cgroup(b, e.parent, "bench"), "sleep", "600")
	var set, torn time.Duration
	for b.Loop() {
		t0 := time.Now()
		start("bench", p.Pid())
		t1 := time.Now()
		stop("bench")
		set += t1.Sub(t0)
		torn += time.Since(t1)
	}
	b.ReportMetric(float64(set.Microseconds())/float64(b.N), "us/setup")
	b.ReportMetric(float64(torn.Microseconds())/float64(b.N), "us/teardown")
}
