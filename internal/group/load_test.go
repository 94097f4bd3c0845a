package group

import (
	"fmt"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testenv"
)

// load runs the load helper between a listener in cgroup a and a dialer in
// cgroup b and checks every connection both ways; dialOpts go to the dialer
// (turn-blocking).
func load(t *testing.T, a, b string, conns int, secs float64, dialOpts ...string) (bytes int64) {
	t.Helper()
	srv := testenv.Start(t, a, "load", "listen", "127.0.0.1:0", fmt.Sprint(conns), fmt.Sprint(secs), "7")
	var l testenv.ListenResult
	srv.JSON(t, helperTimeout, &l)
	cli := testenv.Start(t, b, append([]string{"load", "dial", l.Addr, fmt.Sprint(conns), fmt.Sprint(secs), "8"}, dialOpts...)...)
	wait := time.Duration(secs)*time.Second + 2*time.Minute
	var rs, rc []testenv.LoadConn
	srv.JSON(t, wait, &rs)
	cli.JSON(t, wait, &rc)
	if len(rs) != conns || len(rc) != conns {
		t.Fatalf("%d and %d results, want %d", len(rs), len(rc), conns)
	}
	bySender := map[string]int64{}
	for i := range rs {
		s, c := rs[i], rc[i]
		if s.Error != "" || c.Error != "" {
			t.Errorf("connection %d (%s): server %q, client %q", i, c.Sender, s.Error, c.Error)
			continue
		}
		if s.SentSHA != c.RecvSHA || s.Sent != c.Recv {
			t.Errorf("connection %d (%s): server->client corrupted: sent %d, received %d", i, s.Sender, s.Sent, c.Recv)
		}
		if c.SentSHA != s.RecvSHA || c.Sent != s.Recv {
			t.Errorf("connection %d (%s): client->server corrupted: sent %d, received %d", i, c.Sender, c.Sent, s.Recv)
		}
		bytes += s.Sent + c.Sent
		bySender[c.Sender] += s.Sent + c.Sent
	}
	t.Logf("%d connections for %gs: %d MiB both ways, by sender %v MiB", conns, secs, bytes>>20, mib(bySender))
	return bytes
}

func mib(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		out[k] = v >> 20
	}
	return out
}

// 200 concurrent connections between two bypass groups, random messages of
// 1 B to 1 MiB both ways with every sender kind, Nagle on and off, FIN and
// RST endings: nothing corrupted, nothing hangs.
func TestBypassUnderLoad(t *testing.T) {
	e := newEnv(t)
	ra, a := e.group(t, "a", true)
	_, b := e.group(t, "b", true)
	total := load(t, a, b, 200, testenv.Stress(10.0, 60.0))
	c := counters(t, e, ra.CgroupID)
	t.Logf("group a redirected %d MiB in %d messages", c.Bytes>>20, c.Messages)
	if c.Bytes == 0 || int64(c.Bytes) > total {
		t.Fatalf("group a redirected %d bytes of %d exchanged", c.Bytes, total)
	}
}

// Half the connections of a loaded pair of bypass groups turn their
// client's socket blocking at a random moment while both directions send,
// so those members leave the map mid-stream (bpf/c/leave.h) with their
// peers' redirects coming: every byte must still arrive, in order, both
// ways, as between two plain groups doing the same in the same round. The
// leave's one open window (a redirect decided just before the member
// turned, still waiting for its lock) is what this looks for.
func TestBypassTurnedBlockingUnderLoad(t *testing.T) {
	e := newEnv(t)
	_, pa := e.group(t, "plain-a", false)
	_, pb := e.group(t, "plain-b", false)
	ra, a := e.group(t, "a", true)
	rb, b := e.group(t, "b", true)
	rounds, secs := testenv.Stress(1, 10), testenv.Stress(3.0, 6.0)
	var plain, bypass int64
	for r := 0; r < rounds; r++ {
		plain += load(t, pa, pb, 64, secs, "turn-blocking")
		bypass += load(t, a, b, 64, secs, "turn-blocking")
	}
	ca, cb := counters(t, e, ra.CgroupID), counters(t, e, rb.CgroupID)
	t.Logf("%d rounds: plain %d MiB, bypass %d MiB both ways; redirected a %d MiB, b %d MiB; left the map: a %d, b %d sockets",
		rounds, plain>>20, bypass>>20, ca.Bytes>>20, cb.Bytes>>20, ca.LeftMap, cb.LeftMap)
	if cb.LeftMap == 0 || ca.LeftMap == 0 {
		t.Errorf("no member left the map (a %d, b %d): the turned sockets were not taken off", ca.LeftMap, cb.LeftMap)
	}
}
