package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// probeBytes is how many bytes ProbeFIONREAD sends.
const probeBytes = 1000

// probeTimeout bounds each wait of the probe (connect, accept, the epoll
// wakeup, the read back).
const probeTimeout = time.Second

// fionreadCheck runs the sockmap receive-path probe without and with the
// no-op stream_verdict that sockshim attaches to its SOCKHASH. Only the
// latter decides the check: sockshim always attaches the verdict.
func fionreadCheck() Check {
	c := Check{Name: "sockmap FIONREAD"}
	var bare string
	n, sent, woke, err := ProbeFIONREAD(false)
	switch {
	case err != nil:
		bare = fmt.Sprintf("without SK_SKB verdict: probe failed: %v", err)
	case n == sent && woke:
		bare = fmt.Sprintf("without SK_SKB verdict: FIONREAD=%d of %d (no regression)", n, sent)
	default:
		bare = fmt.Sprintf("without SK_SKB verdict: FIONREAD=%d of %d%s (regression)", n, sent, wakeNote(woke))
	}

	n, sent, woke, err = ProbeFIONREAD(true)
	switch {
	case err != nil:
		c.Detail = fmt.Sprintf("%s; with no-op stream_verdict: probe failed: %v", bare, err)
		c.Fix = "the loopback bypass is refused on this host (containers still start); a kernel whose sockmap works"
	case n != sent || !woke:
		c.Detail = fmt.Sprintf("%s; with no-op stream_verdict: FIONREAD=%d of %d%s (the workaround does not work)", bare, n, sent, wakeNote(woke))
		c.Fix = "the loopback bypass is refused on this host (containers still start); a kernel whose sockmap receive path keeps FIONREAD and wakeups right"
	default:
		c.OK = true
		c.Detail = fmt.Sprintf("%s; with no-op stream_verdict: FIONREAD=%d (workaround works, sockshim applies it)", bare, n)
	}
	return c
}

func wakeNote(woke bool) string {
	if woke {
		return ""
	}
	return ", no epoll wakeup"
}

// ProbeFIONREAD checks the sockmap receive path of the running kernel. It
// makes a loopback TCP connection, puts the accepted (receiving) socket into
// a fresh SOCKHASH, with a no-op SK_SKB stream_verdict attached to the map
// when withVerdict, and sends sent bytes from the client, which is not in the
// map, so they arrive by the normal path. It reports whether epoll on the
// receiver woke up within a second and what ioctl(FIONREAD) then says, and
// reads the bytes back, failing if they are not all there and intact.
//
// Nothing is attached to any cgroup and nothing is pinned; the map, the
// program and the sockets are closed before it returns, also on error.
func ProbeFIONREAD(withVerdict bool) (fionread int, sent int, woke bool, err error) {
	sockhash, err := newProbeSockhash(withVerdict)
	if err != nil {
		return 0, 0, false, err
	}
	defer sockhash.Close()

	client, receiver, err := loopbackPair()
	if err != nil {
		return 0, 0, false, err
	}
	defer unix.Close(client)
	defer unix.Close(receiver)

	if err := sockhash.insert(receiver); err != nil {
		return 0, 0, false, err
	}

	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return 0, 0, false, fmt.Errorf("epoll_create1: %w", err)
	}
	defer unix.Close(epfd)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, receiver, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(receiver)}); err != nil {
		return 0, 0, false, fmt.Errorf("epoll_ctl: %w", err)
	}

	payload := probePayload(probeBytes)
	if err := writeAll(client, payload); err != nil {
		return 0, 0, false, fmt.Errorf("send: %w", err)
	}
	sent = len(payload)

	woke, err = epollWait(epfd, probeTimeout)
	if err != nil {
		return 0, sent, false, err
	}
	// The wakeup may come before the last segment is queued: give FIONREAD
	// a short while to reach the full count before taking it.
	settle := time.Now().Add(200 * time.Millisecond)
	for {
		fionread, err = unix.IoctlGetInt(receiver, unix.SIOCINQ)
		if err != nil {
			return 0, sent, woke, fmt.Errorf("ioctl(FIONREAD): %w", err)
		}
		if fionread >= sent || time.Now().After(settle) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}

	got, err := readN(receiver, sent, probeTimeout)
	if err != nil {
		return fionread, sent, woke, err
	}
	if !bytes.Equal(got, payload) {
		return fionread, sent, woke, errors.New("the bytes read back differ from those sent")
	}
	return fionread, sent, woke, nil
}

// probePayload is n bytes that do not repeat with a short period, so a
// misplaced byte shows when they are compared.
func probePayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/256)
	}
	return b
}

// loopbackPair returns the two ends of a TCP connection over 127.0.0.1, as
// non-blocking raw fds outside Go's netpoller. The listener is closed.
func loopbackPair() (client, receiver int, err error) {
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return -1, -1, fmt.Errorf("bind 127.0.0.1:0: %w", err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		return -1, -1, fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		return -1, -1, fmt.Errorf("getsockname: %w", err)
	}

	client, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(client)
		}
	}()
	if err := unix.Connect(client, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return -1, -1, fmt.Errorf("connect to %v: %w", sa, err)
	}
	if ready, err := pollFD(client, unix.POLLOUT, probeTimeout); err != nil || !ready {
		return -1, -1, fmt.Errorf("connect over loopback did not complete in %v (%v)", probeTimeout, err)
	}
	soErr, err := unix.GetsockoptInt(client, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return -1, -1, fmt.Errorf("getsockopt(SO_ERROR): %w", err)
	}
	if soErr != 0 {
		return -1, -1, fmt.Errorf("connect to %v: %w", sa, unix.Errno(soErr))
	}
	if ready, err := pollFD(ln, unix.POLLIN, probeTimeout); err != nil || !ready {
		return -1, -1, fmt.Errorf("no connection to accept within %v (%v)", probeTimeout, err)
	}
	for {
		receiver, _, err = unix.Accept4(ln, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return -1, -1, fmt.Errorf("accept: %w", err)
	}
	ok = true
	return client, receiver, nil
}

// pollFD waits up to timeout for events on fd, retrying on EINTR.
func pollFD(fd int, events int16, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline).Milliseconds())
		if ms < 0 {
			ms = 0
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) && ms > 0 {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll: %w", err)
		}
		return n > 0, nil
	}
}

// epollWait waits up to timeout for an event on epfd, retrying on EINTR
// (Go's preemption signals interrupt it).
func epollWait(epfd int, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	events := make([]unix.EpollEvent, 1)
	for {
		ms := int(time.Until(deadline).Milliseconds())
		if ms < 0 {
			ms = 0
		}
		n, err := unix.EpollWait(epfd, events, ms)
		if errors.Is(err, unix.EINTR) && ms > 0 {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("epoll_wait: %w", err)
		}
		return n > 0, nil
	}
}

// writeAll writes b to the non-blocking fd.
func writeAll(fd int, b []byte) error {
	deadline := time.Now().Add(probeTimeout)
	for len(b) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d bytes not sent within %v", len(b), probeTimeout)
		}
		n, err := unix.Write(fd, b)
		if n > 0 {
			b = b[n:]
		}
		switch {
		case err == nil, errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			if ready, perr := pollFD(fd, unix.POLLOUT, time.Until(deadline)); perr != nil || !ready {
				return fmt.Errorf("%d bytes not sent within %v (%v)", len(b), probeTimeout, perr)
			}
		default:
			return err
		}
	}
	return nil
}

// readN reads n bytes from the non-blocking fd within timeout.
func readN(fd, n int, timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	got := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(got) < n {
		if time.Now().After(deadline) {
			return got, fmt.Errorf("read back: only %d of %d bytes arrived within %v", len(got), n, timeout)
		}
		m, err := unix.Read(fd, buf[:n-len(got)])
		switch {
		case err == nil && m == 0:
			return got, fmt.Errorf("read back: end of stream after %d of %d bytes", len(got), n)
		case err == nil:
			got = append(got, buf[:m]...)
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			ready, perr := pollFD(fd, unix.POLLIN, time.Until(deadline))
			if perr != nil {
				return got, perr
			}
			if !ready {
				return got, fmt.Errorf("read back: only %d of %d bytes arrived within %v", len(got), n, timeout)
			}
		default:
			return got, fmt.Errorf("read back after %d of %d bytes: %w", len(got), n, err)
		}
	}
	return got, nil
}
