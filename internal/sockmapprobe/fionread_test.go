package sockmapprobe

import (
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testenv"
)

func TestFIONREAD(t *testing.T) {
	testenv.RequireRoot(t)
	n, sent, woke, err := FIONREAD(true, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("with the no-op stream_verdict: %v", err)
	}
	t.Logf("with the no-op stream_verdict: FIONREAD %d of %d, epoll wakeup %v", n, sent, woke)
	if sent != ProbeBytes || n != sent || !woke {
		t.Errorf("with the no-op stream_verdict: FIONREAD %d of %d, epoll wakeup %v; want all bytes and a wakeup", n, sent, woke)
	}

	n, sent, woke, err = FIONREAD(false, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("without an SK_SKB verdict: %v", err)
	}
	t.Logf("without an SK_SKB verdict: FIONREAD %d of %d, epoll wakeup %v", n, sent, woke)
}

func TestFIONREADRepeats(t *testing.T) {
	testenv.RequireRoot(t)
	// Every run cleans up after itself: its sockets, epoll fd, map and
	// program are all fds of this process.
	before := testenv.OpenFDs(t)
	for i := 0; i < 20; i++ {
		if _, _, _, err := FIONREAD(i%2 == 0, 200*time.Millisecond); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if after := testenv.OpenFDs(t); after > before {
		t.Fatalf("%d fds open before 20 probes, %d after", before, after)
	}
}
