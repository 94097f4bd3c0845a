package group

import (
	"fmt"
	"testing"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/testenv"
)

const exchangeBytes = 256 << 20

// exchange runs one full-duplex transfer of n bytes each way between a
// listener in cgroup a and a dialer in cgroup b and checks both directions'
// SHA-256.
func exchange(t *testing.T, a, listenAddr, b string, n int64) {
	t.Helper()
	exchangeVia(t, a, listenAddr, b, 0, n)
}

// exchangeVia is exchange with the dialer connecting to hostPort (a remapped
// listener's host port), or to the port the listener reports when 0. extra
// are more arguments for both ends' helper (a buffer size).
func exchangeVia(t *testing.T, a, listenAddr, b string, hostPort uint16, n int64, extra ...string) {
	t.Helper()
	srv := testenv.Start(t, a, append([]string{"exchange", "listen", listenAddr, fmt.Sprint(n), "1"}, extra...)...)
	var l testenv.ListenResult
	srv.JSON(t, helperTimeout, &l)
	dial := l.Addr
	if hostPort != 0 {
		dial = withPort("127.0.0.1", hostPort)
	}
	cli := testenv.Start(t, b, append([]string{"exchange", "dial", dial, fmt.Sprint(n), "2"}, extra...)...)
	var rs, rc testenv.ExchangeResult
	srv.JSON(t, 5*helperTimeout, &rs)
	cli.JSON(t, 5*helperTimeout, &rc)
	if rs.Sent != n || rc.Sent != n || rs.Recv != n || rc.Recv != n {
		t.Fatalf("bytes: server sent %d got %d, client sent %d got %d, want %d each", rs.Sent, rs.Recv, rc.Sent, rc.Recv, n)
	}
	if rs.SentSHA != rc.RecvSHA {
		t.Fatalf("server->client corrupted: sent %s, received %s", rs.SentSHA, rc.RecvSHA)
	}
	if rc.SentSHA != rs.RecvSHA {
		t.Fatalf("client->server corrupted: sent %s, received %s", rc.SentSHA, rs.RecvSHA)
	}
}

func counters(t *testing.T, e *env, cgroupID uint64) bpf.Counters {
	t.Helper()
	c, err := e.k.Counters(cgroupID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkRedirected fails unless the redirect carried the sent bytes: all but
// possibly the first writes (sent before the peer joined the map), or fewer
// when flow control moved the sender to the normal path for a while (a
// switch is counted), but never none and never more than were sent.
func checkRedirected(t *testing.T, who string, c bpf.Counters, sent uint64) {
	t.Helper()
	if c.Bytes == 0 || c.Bytes > sent || (c.Bytes < sent*9/10 && c.NormalPath == 0) {
		t.Errorf("%s redirected %d bytes of %d sent, with %d switches to the normal path", who, c.Bytes, sent, c.NormalPath)
	}
}

func TestBypassIntegrityAndCounters(t *testing.T) {
	for _, c := range []struct{ name, listen string }{
		{"ipv4", "127.0.0.1:0"},
		{"ipv6", "[::1]:0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			ra, a := e.group(t, "a", true)
			rb, b := e.group(t, "b", true)
			exchange(t, a, c.listen, b, exchangeBytes)
			ca, cb := counters(t, e, ra.CgroupID), counters(t, e, rb.CgroupID)
			t.Logf("redirected: a %d bytes in %d messages, b %d bytes in %d messages", ca.Bytes, ca.Messages, cb.Bytes, cb.Messages)
			for name, got := range map[string]bpf.Counters{"a": ca, "b": cb} {
				checkRedirected(t, "group "+name, got, exchangeBytes)
			}
		})
	}
}

// A dual-stack listener accepting IPv4 has an AF_INET6 socket with
// IPv4-mapped addresses; its peer an AF_INET one. The keys must agree.
func TestBypassIPv4MappedPeers(t *testing.T) {
	e := newEnv(t)
	ra, a := e.group(t, "a", true)
	_, b := e.group(t, "b", true)
	srv := testenv.Start(t, a, "exchange", "listen", "[::]:0", fmt.Sprint(1<<20), "3")
	var l testenv.ListenResult
	srv.JSON(t, helperTimeout, &l)
	cli := testenv.Start(t, b, "exchange", "dial", withPort("127.0.0.1", portOf(t, l.Addr)), fmt.Sprint(1<<20), "4")
	var rs, rc testenv.ExchangeResult
	srv.JSON(t, helperTimeout, &rs)
	cli.JSON(t, helperTimeout, &rc)
	if rs.SentSHA != rc.RecvSHA || rc.SentSHA != rs.RecvSHA {
		t.Fatal("corrupted")
	}
	if got := counters(t, e, ra.CgroupID).Bytes; got == 0 {
		t.Fatal("IPv4-mapped server redirected nothing: the two ends' keys disagree")
	}
}

// A bypass group talking to a process outside any group: the normal path,
// nothing dropped, nothing redirected.
func TestBypassFallbackToNormalPath(t *testing.T) {
	e := newEnv(t)
	ra, a := e.group(t, "a", true)
	plain := testenv.Cgroup(t, e.parent, "plain")
	exchange(t, a, "127.0.0.1:0", plain, exchangeBytes)
	if c := counters(t, e, ra.CgroupID); c.Bytes != 0 {
		t.Fatalf("%d bytes redirected to a peer that is not in the map", c.Bytes)
	}
}
