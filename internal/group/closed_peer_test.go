package group

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testenv"
)

// A receiver killed with bytes unread while its sender is blocked on the zero
// window those bytes made. Plain TCP resets the sender at once. A bypass
// receiver's unread bytes wait in its psock, so its close sends FIN, and the
// sender used to wait a minute behind the closed socket's zero window
// (closed_peer.h). Every sender must now end with an error, and a connection
// with one plain end must stay out of the bypass map: it is plain TCP.
func TestSenderEndsWhenUnreadPeerCloses(t *testing.T) {
	for _, c := range []struct {
		name                   string
		recvBypass, sendBypass bool
		halfClose              bool
		members                int // sockets of the connection in bypass_sockets
	}{
		{"both bypass", true, true, false, 2},
		{"both bypass, receiver half-closed first", true, true, true, 2},
		{"plain sender", true, false, false, 0},
		{"plain receiver", false, true, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			cgroupFor := func(name string, bypass bool) string {
				if bypass {
					_, cg := e.group(t, name, true)
					return cg
				}
				return testenv.Cgroup(t, e.parent, name)
			}
			a, b := cgroupFor("a", c.recvBypass), cgroupFor("b", c.sendBypass)
			args := []string{"backlog", "listen", "127.0.0.1:0", "600000"}
			if c.halfClose {
				args = append(args, "halfclose")
			}
			srv := testenv.Start(t, a, args...)
			var l testenv.ListenResult
			srv.JSON(t, helperTimeout, &l)
			cli := testenv.Start(t, b, "backlog", "dial", l.Addr, fmt.Sprint(1<<30), "5")
			time.Sleep(time.Second) // the sender fills the receiver and blocks
			sizes, err := testenv.MapSizes(e.bpffs)
			if err != nil {
				t.Fatal(err)
			}
			if got := sizes["bypass_sockets"]; got != c.members {
				t.Errorf("bypass_sockets holds %d sockets, want %d", got, c.members)
			}

			syscall.Kill(srv.Pid(), syscall.SIGKILL)
			start := time.Now()
			stderr, err := cli.Wait(helperTimeout)
			if time.Since(start) >= helperTimeout {
				t.Fatalf("the sender hung after its unread peer was killed: %v", err)
			}
			stderr = strings.TrimSpace(stderr)
			if len(stderr) > 2000 { // a helper's goroutine dump
				stderr = stderr[:2000]
			}
			t.Logf("sender ended after %v: %s", time.Since(start).Round(time.Millisecond), stderr)
			if err == nil || !strings.Contains(stderr, "connection reset by peer") && !strings.Contains(stderr, "connection timed out") && !strings.Contains(stderr, "broken pipe") {
				t.Errorf("the sender ended with %v %q, want a reset, broken pipe or time-out", err, stderr)
			}
		})
	}
}

// A sender that closes with bytes queued behind its peer's shut window: its
// orphaned socket must deliver them and its FIN once the peer reads, however
// long the peer waits, as plain TCP does. The probe cap of closed_peer.h once
// made the kernel drop such an orphan after about a second of zero window,
// leaving its peer without the bytes or an end.
func TestClosedSenderDeliversQueuedBytes(t *testing.T) {
	const readDelay = 4 * time.Second
	e := newEnv(t)
	_, a := e.group(t, "a", true)
	_, b := e.group(t, "b", true)
	srv := testenv.Start(t, a, "backlog", "listen", "127.0.0.1:0", fmt.Sprint(readDelay.Milliseconds()))
	var l testenv.ListenResult
	srv.JSON(t, helperTimeout, &l)
	cli := testenv.Start(t, b, "backlog", "dial", l.Addr, "flood", "5")
	var rs, rc testenv.BacklogResult
	cli.JSON(t, helperTimeout, &rc)
	srv.JSON(t, readDelay+helperTimeout, &rs)
	if rs.Recv != rc.Sent || rs.RecvSHA != rc.SentSHA {
		t.Fatalf("sender closed after %d bytes (%s), receiver got %d (%s)", rc.Sent, rc.SentSHA, rs.Recv, rs.RecvSHA)
	}
	t.Logf("%d bytes queued at close, all delivered after %v", rc.Sent, readDelay)
}
