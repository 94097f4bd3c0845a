package group

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testenv"
)

// The bypass never changes what a program sees (SPEC.md): testdata/
// semantics.py runs each row of the kernel's sockmap receive-path quirks
// (MSG_WAITALL, SO_RCVLOWAT, a signal during a blocking read, splice, a
// second thread on the socket), and a bulk transfer to a reader with a
// small and with a large receive buffer, over plain loopback and between
// two bypass groups, and every try must come out the same.

// semTry is what the client saw in one try (one connection).
type semTry struct {
	First   int    `json:"first"` // bytes returned by the first read
	Total   int    `json:"total"`
	SHA     string `json:"sha"`
	Error   string `json:"error"` // Python exception class, "timeout" if stuck
	Want    int    `json:"want"`  // what plain TCP must deliver
	WantSHA string `json:"want_sha"`
}

type semCase struct{ row, style string }

const semLowat = 5000 // semantics.py's LOWAT

// What a program can tell apart in a try. Plain TCP's first read is exact
// for blocking MSG_WAITALL; with SO_RCVLOWAT only its floor is (a read may
// find more than the low-water mark); non-blocking reads just loop.
func (c semCase) view(r semTry) string {
	v := fmt.Sprintf("total %d, sha %.12s, error %q", r.Total, r.SHA, r.Error)
	switch {
	case c.row == "rcvlowat":
		return fmt.Sprintf("first read %d (capped at the low-water mark), %s", min(r.First, semLowat), v)
	case c.row == "waitall" && c.style != "nonblocking":
		return fmt.Sprintf("first read %d, %s", r.First, v)
	}
	return v
}

func python3(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed (make test installs it): %v", err)
	}
	return py
}

// runSemantics serves in cgroup srvCg and runs the client in cliCg.
func runSemantics(t *testing.T, py string, c semCase, srvCg, cliCg string) []semTry {
	t.Helper()
	script := filepath.Join("testdata", "semantics.py")
	mode := "server"
	if c.row == "threads" && c.style != "nonblocking" {
		mode = "threaded-server" // blocking accepted sockets, as the table measured
	}
	srv := testenv.StartCommand(t, srvCg, py, script, mode)
	var l testenv.ListenResult
	srv.JSON(t, helperTimeout, &l)
	cli := testenv.StartCommand(t, cliCg, py, script, "client", l.Addr, c.row, c.style)
	var rep struct{ Tries []semTry }
	cli.JSON(t, 2*helperTimeout, &rep)
	if stderr, err := cli.Wait(helperTimeout); err != nil {
		t.Fatalf("client: %v\n%s", err, stderr)
	}
	return rep.Tries
}

func TestSemantics(t *testing.T) {
	py := python3(t)
	for _, c := range []semCase{
		{"waitall", "blocking"}, {"waitall", "nonblocking"}, {"waitall", "turned-blocking"},
		{"rcvlowat", "blocking"}, {"rcvlowat", "nonblocking"},
		{"signal", "blocking"}, {"signal", "nonblocking"}, {"signal", "turned-blocking"},
		// splice on a non-blocking socket cannot be told from eBPF (the
		// README's compatibility table): the blocking style only.
		{"splice", "blocking"},
		{"threads", "blocking"}, {"threads", "nonblocking"},
		// Flow control switches between the paths at every few writes
		// into a 64 KiB buffer, seldom into an 8 MiB one.
		{"bulk-small", "blocking"}, {"bulk-small", "nonblocking"}, {"bulk-small", "turned-blocking"},
		// A client SO_RCVBUF of 64 KiB keeps the connection off the map
		// whatever the style (bpf/c/small_buffers.h).
		{"bulk-tiny", "blocking"}, {"bulk-tiny", "nonblocking"},
		{"bulk-large", "blocking"}, {"bulk-large", "nonblocking"},
	} {
		t.Run(c.row+"/"+c.style, func(t *testing.T) {
			e := newEnv(t)
			_, pa := e.group(t, "plain-srv", false)
			_, pb := e.group(t, "plain-cli", false)
			ra, a := e.group(t, "bypass-srv", true)
			rb, b := e.group(t, "bypass-cli", true)
			start := time.Now()
			plain := runSemantics(t, py, c, pa, pb)
			bypass := runSemantics(t, py, c, a, b)
			ca, cb := counters(t, e, ra.CgroupID), counters(t, e, rb.CgroupID)
			t.Logf("%v; redirected: server group %d bytes, client group %d bytes",
				time.Since(start).Round(time.Millisecond), ca.Bytes, cb.Bytes)
			compareTries(t, c, plain, bypass)
			switch {
			case c.row == "rcvlowat" && c.style == "nonblocking":
				// Even non-blocking, a low-water mark is not honoured by
				// the sockmap path (epoll wakes below it), so such a
				// socket keeps plain TCP: no counter to expect.
			case c.row == "bulk-tiny":
				// The client sees its own small buffer before it joins,
				// so neither socket joins: nothing redirected either way.
				if ca.Bytes != 0 || cb.Bytes != 0 {
					t.Errorf("a connection with a 64 KiB receive buffer was redirected: server group %d bytes, client group %d", ca.Bytes, cb.Bytes)
				}
			case c.style == "nonblocking":
				// The server's replies are redirected. The client's
				// one-line request may go before the server has
				// accepted, which takes the normal path (an accepted
				// socket has no file to judge before accept()), so the
				// client's group must redirect only where it sends bulk.
				if ca.Bytes == 0 || c.row == "threads" && cb.Bytes == 0 {
					t.Errorf("non-blocking sockets must still be redirected: server group %d bytes, client group %d", ca.Bytes, cb.Bytes)
				}
			default:
				// Blocking from its first byte on: the sockmap path would
				// read it, so nothing may be redirected to or from it.
				if ca.Bytes != 0 || cb.Bytes != 0 {
					t.Errorf("a blocking client's connection was redirected: server group %d bytes, client group %d", ca.Bytes, cb.Bytes)
				}
			}
		})
	}
}

// compareTries fails unless plain TCP gave every try its full, intact bytes
// (else the harness itself is broken) and the bypass gave the same view.
func compareTries(t *testing.T, c semCase, plain, bypass []semTry) {
	t.Helper()
	for i, p := range plain {
		if p.Error != "" || p.Want == 0 || p.Total != p.Want || p.SHA != p.WantSHA {
			t.Fatalf("plain TCP, try %d: %+v (want %d intact bytes, no error)", i, p, p.Want)
		}
	}
	var bad []string
	for i, p := range plain {
		pv, bv := c.view(p), "missing (the client stopped early)"
		if i < len(bypass) {
			bv = c.view(bypass[i])
		}
		if pv != bv {
			bad = append(bad, fmt.Sprintf("try %d: plain %s; bypass %s", i, pv, bv))
		}
	}
	if len(bad) > 0 {
		t.Errorf("bypass differs from plain TCP in %d of %d tries:\n%s", len(bad), len(plain), strings.Join(bad, "\n"))
	}
}
