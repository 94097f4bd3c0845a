package group

import (
	"fmt"
	"testing"

	"github.com/sockshim/sockshim/internal/testenv"
)

// A peer that does not read holds the sender back as TCP would: the
// redirect stops at the sender's send buffer plus the peer's receive buffer,
// the sender's next bytes take the normal path and wait in TCP's window, and
// once the peer reads, the bytes arrive in order and the redirect resumes.
// Without the bound, the kernel would let the sender queue until the host's
// TCP memory ran out (1.5 GiB here, then ENOMEM for the whole host).
func TestBypassBoundsUnreadQueue(t *testing.T) {
	const total = 128 << 20
	e := newEnv(t)
	ra, a := e.group(t, "a", true)
	rb, b := e.group(t, "b", true)
	srv := testenv.Start(t, a, "backlog", "listen", "127.0.0.1:0", "1000")
	var l testenv.ListenResult
	srv.JSON(t, helperTimeout, &l)
	cli := testenv.Start(t, b, "backlog", "dial", l.Addr, fmt.Sprint(total), "5")
	var rs, rc testenv.BacklogResult
	cli.JSON(t, 5*helperTimeout, &rc)
	srv.JSON(t, 5*helperTimeout, &rs)
	if rc.Sent != total || rs.Recv != total || rc.SentSHA != rs.RecvSHA {
		t.Fatalf("client sent %d (%s), server received %d (%s), want %d intact", rc.Sent, rc.SentSHA, rs.Recv, rs.RecvSHA, total)
	}
	cb := counters(t, e, rb.CgroupID)
	t.Logf("unread peer held %d KiB before EAGAIN; redirected %d MiB of %d MiB, %d switches to the normal path",
		rc.Flooded>>10, cb.Bytes>>20, total>>20, cb.NormalPath)
	// The normal path alone lets a sender hold its send buffer (4 MiB at
	// most, tcp_wmem) plus the peer's window; the redirect adds at most
	// the same again.
	if rc.Flooded > 32<<20 {
		t.Errorf("the sender queued %d MiB on a peer that does not read", rc.Flooded>>20)
	}
	if cb.NormalPath == 0 {
		t.Error("the sender never switched to the normal path")
	}
	// The redirect resumed after the switch: far more than the bound went
	// through it.
	if cb.Bytes < 3*uint64(rc.Flooded) {
		t.Errorf("only %d MiB redirected: the redirect did not resume once the peer read", cb.Bytes>>20)
	}
	if ca := counters(t, e, ra.CgroupID); ca.Bytes != 0 || ca.NormalPath != 0 {
		t.Errorf("the reader sent nothing, yet its group shows %+v", ca)
	}
}
