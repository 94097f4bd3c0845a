package bpf

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/sockshim/sockshim/internal/sockmapprobe"
)

// The no-op stream_verdict is on the socket map exactly when the first load
// chose it: by the probe (auto) or by the operator (always, never).
func TestStreamVerdictFollowsTheProbe(t *testing.T) {
	n, sent, woke, err := sockmapprobe.FIONREAD(false, 0)
	regression := err != nil || n < sent || !woke
	t.Logf("FIONREAD in a SOCKHASH without a verdict: %d of %d, wakeup %v (%v): regression %v", n, sent, woke, err, regression)
	for setting, want := range map[string]bool{"auto": regression, "always": true, "never": false} {
		t.Setenv(StreamVerdictEnv, setting)
		k := openTestKernel(t)
		if got := k.StreamVerdict(); got != want {
			t.Errorf("%s: StreamVerdict() = %v, want %v", setting, got, want)
		}
		m, err := k.bpfMap(mapSockets)
		if err != nil {
			t.Fatal(err)
		}
		res, err := link.QueryPrograms(link.QueryOptions{Target: m.FD(), Attach: ebpf.AttachSkSKBStreamVerdict})
		if err != nil {
			t.Fatalf("%s: query the socket map's stream_verdict: %v", setting, err)
		}
		if got := len(res.Programs) == 1; got != want {
			t.Errorf("%s: %d stream_verdict programs on the socket map, want attached %v", setting, len(res.Programs), want)
		}
	}
}
