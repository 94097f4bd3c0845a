package rawsock

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// closedPort is a loopback port nothing listens on any more.
func closedPort(t *testing.T) netip.AddrPort {
	lfd, addr, err := Listen(netip.AddrPortFrom(Loopback, 0), 1, NonBlock)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(lfd)
	return addr
}

func TestDialClosedPortRefused(t *testing.T) {
	addr := closedPort(t)
	for name, f := range map[string]Flags{"non-blocking": NonBlock, "blocking": 0} {
		fd, err := Dial(addr, f, Timeout(time.Second))
		if fd != -1 || !errors.Is(err, unix.ECONNREFUSED) {
			t.Errorf("%s: fd %d, %v, want -1 and ECONNREFUSED", name, fd, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "connect "+addr.String()+": ") {
			t.Errorf("%s: %q does not say what was dialled", name, err)
		}
	}
	if fd, err := DialUnix(filepath.Join(t.TempDir(), "none"), NonBlock, Timeout(time.Second), nil); fd != -1 || !errors.Is(err, unix.ENOENT) {
		t.Errorf("unix: fd %d, %v, want -1 and ENOENT", fd, err)
	}
}

// closer records the fds closed through it.
type closer struct {
	Timeout
	closed []int
}

func (c *closer) Close(fd int) {
	c.closed = append(c.closed, fd)
	unix.Close(fd)
}

// A failed connect closes its socket through a Waiter that registers fds.
func TestDialClosesThroughCloser(t *testing.T) {
	c := &closer{Timeout: Timeout(time.Second)}
	if _, err := Dial(closedPort(t), NonBlock, c); !errors.Is(err, unix.ECONNREFUSED) || len(c.closed) != 1 {
		t.Errorf("%v, closed through the waiter %v, want ECONNREFUSED and one", err, c.closed)
	}
}

// A wait past its time fails with os.ErrDeadlineExceeded; so does a
// Deadline's once it has gone by, at once.
func TestTimeouts(t *testing.T) {
	client, _ := pair(t)
	buf := make([]byte, 1)
	start := time.Now()
	err := ReadFull(client, buf, Timeout(50*time.Millisecond))
	if took := time.Since(start); !errors.Is(err, os.ErrDeadlineExceeded) || took < 50*time.Millisecond || took > 5*time.Second {
		t.Errorf("Timeout: %v after %v, want a deadline error after 50ms", err, took)
	}
	d := Within(50 * time.Millisecond)
	if err := ReadFull(client, buf, d); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Within: %v", err)
	}
	start = time.Now()
	if err := ReadFull(client, buf, d); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > 40*time.Millisecond {
		t.Errorf("Within, past: %v after %v, want a deadline error at once", err, time.Since(start))
	}
	if _, err := Read(client, buf, nil); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("no Waiter: %v, want EAGAIN", err)
	}
	if ready, err := Poll(client, unix.POLLIN, 10*time.Millisecond); ready || err != nil {
		t.Errorf("Poll of an idle socket: %v, %v", ready, err)
	}
}

// A zero timeout polls once without waiting, a negative one waits for
// ever, and a wait never ends before its time (milliseconds rounded up);
// an EINTR is waited through only while time is left.
func TestRetryTimeouts(t *testing.T) {
	for timeout, want := range map[time.Duration]int{0: 0, -1: -1, time.Hour: 3600000, 1500 * time.Microsecond: 2} {
		var got []int
		retry(timeout, func(ms int) (int, error) { got = append(got, ms); return 0, nil })
		if len(got) != 1 || got[0] > want || got[0] < want-1 {
			t.Errorf("timeout %v: waited %v ms, want %d", timeout, got, want)
		}
	}
	calls := 0
	if _, err := retry(0, func(int) (int, error) { calls++; return 0, unix.EINTR }); err != unix.EINTR || calls != 1 {
		t.Errorf("EINTR with no time left: %v after %d calls", err, calls)
	}
	calls = 0
	retry(-1, func(int) (int, error) {
		if calls++; calls < 3 {
			return 0, unix.EINTR
		}
		return 1, nil
	})
	if calls != 3 {
		t.Errorf("EINTR with no limit: %d calls, want 3", calls)
	}
	client, server := pair(t)
	if err := WriteAll(server, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if ready, err := Poll(client, unix.POLLIN, -1); !ready || err != nil {
		t.Errorf("Poll, no limit, data there: %v, %v", ready, err)
	}
}

// DialSetup's setup runs on the socket before connect(2): a buffer size it
// sets is the connected socket's (the kernel doubles what is asked), and its
// error is DialSetup's, with nothing dialled.
func TestDialSetupRunsBeforeConnect(t *testing.T) {
	lfd, addr, err := Listen(netip.AddrPortFrom(Loopback, 0), 1, NonBlock)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	var connectedBefore bool
	fd, err := DialSetup(addr, NonBlock, Timeout(time.Second), func(fd int) error {
		_, perr := unix.Getpeername(fd)
		connectedBefore = perr == nil
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 32<<10)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if connectedBefore {
		t.Error("setup ran on a connected socket")
	}
	if got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err != nil || got != 64<<10 {
		t.Errorf("SO_SNDBUF %d, %v; want %d", got, err, 64<<10)
	}
	refused := errors.New("refused by setup")
	if fd, err := DialSetup(addr, NonBlock, Timeout(time.Second), func(int) error { return refused }); fd != -1 || !errors.Is(err, refused) {
		t.Errorf("failing setup: fd %d, %v; want -1 and its error", fd, err)
	}
}
