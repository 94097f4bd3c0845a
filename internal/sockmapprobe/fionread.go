package sockmapprobe

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/rawsock"
)

// ProbeBytes is how many bytes FIONREAD sends.
const ProbeBytes = 1000

// probeTimeout bounds each wait (connect, accept, the epoll wakeup, the
// read back).
const probeTimeout = time.Second

// FIONREAD checks the sockmap receive path of the running kernel. It
// makes a loopback TCP connection, puts the accepted (receiving) socket into
// a fresh SOCKHASH, with a no-op SK_SKB stream_verdict attached to the map
// when withVerdict, and sends sent bytes from the client, which is not in the
// map, so they arrive by the normal path. It reports whether epoll on the
// receiver woke up within a second and what ioctl(FIONREAD) then says, and
// reads the bytes back, failing if they are not all there and intact.
//
// Nothing is attached to any cgroup and nothing is pinned; the map, the
// program and the sockets are closed before it returns, also on error.
func FIONREAD(withVerdict bool, settle time.Duration) (fionread int, sent int, woke bool, err error) {
	sockhash, err := NewSockhash(withVerdict)
	if err != nil {
		return 0, 0, false, err
	}
	defer sockhash.Close()

	client, receiver, err := rawsock.Pair(rawsock.NonBlock, probeTimeout)
	if err != nil {
		return 0, 0, false, err
	}
	defer unix.Close(client)
	defer unix.Close(receiver)

	if err := sockhash.Insert(receiver); err != nil {
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

	payload := Payload(ProbeBytes)
	if err := rawsock.WriteAll(client, payload, rawsock.Within(probeTimeout)); err != nil {
		return 0, 0, false, fmt.Errorf("send: %w", err)
	}
	sent = len(payload)

	ready, err := rawsock.EpollWait(epfd, make([]unix.EpollEvent, 1), probeTimeout)
	if err != nil {
		return 0, sent, false, err
	}
	woke = ready > 0
	// The wakeup may come before the last segment is queued: give FIONREAD
	// up to settle to reach the full count before taking it.
	deadline := time.Now().Add(settle)
	for {
		fionread, err = unix.IoctlGetInt(receiver, unix.SIOCINQ)
		if err != nil {
			return 0, sent, woke, fmt.Errorf("ioctl(FIONREAD): %w", err)
		}
		if fionread >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}

	got := make([]byte, sent)
	if err := rawsock.ReadFull(receiver, got, rawsock.Within(probeTimeout)); err != nil {
		return fionread, sent, woke, fmt.Errorf("read back: %w", err)
	}
	if !bytes.Equal(got, payload) {
		return fionread, sent, woke, errors.New("the bytes read back differ from those sent")
	}
	return fionread, sent, woke, nil
}

// Payload is n bytes that do not repeat with a short period, so a
// misplaced byte shows when they are compared.
func Payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/256)
	}
	return b
}
