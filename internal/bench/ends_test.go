package bench

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/rawsock"
)

// The ends' sockets are all non-blocking (the bypass takes no other), and
// their epoll waits carry more than the socket buffers both ways at once,
// over TCP and AF_UNIX; a refused connect comes back through SO_ERROR.
func TestBenchEndsNonBlocking(t *testing.T) {
	nonBlocking := func(what string, fd int) {
		t.Helper()
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
			t.Errorf("%s: flags %#x (%v), want O_NONBLOCK", what, fl, err)
		}
	}
	// An end's poller, closed with the test (the ends never close theirs).
	newEnd := func() (*poller, error) {
		p, err := startEnd(-1)
		if err == nil {
			t.Cleanup(func() { unix.Close(p.epfd) })
		}
		return p, err
	}
	for network, addr := range map[string]string{"tcp": "127.0.0.1", "unix": filepath.Join(t.TempDir(), "s")} {
		lfd, dial, err := benchListen(network, addr, 128)
		if err != nil {
			t.Fatalf("%s: listen: %v", network, err)
		}
		nonBlocking(network+" listener", lfd)
		served := make(chan error, 1)
		go func() { // the echo end
			p, err := newEnd()
			if err == nil {
				var fd int
				if fd, err = rawsock.Accept(lfd, rawsock.NonBlock, p); err == nil {
					nonBlocking(network+" accepted", fd)
					buf := make([]byte, 65536)
					for err == nil {
						if err = rawsock.ReadFull(fd, buf, p); err == nil {
							err = rawsock.WriteAll(fd, buf, p)
						}
					}
					err = nil // the client closed
					p.Close(fd)
				}
				p.Close(lfd)
			}
			served <- err
		}()
		p, err := newEnd()
		if err != nil {
			t.Fatal(err)
		}
		fd, err := benchDial(p, network, dial, nil)
		if err != nil {
			t.Fatalf("%s: dial: %v", network, err)
		}
		nonBlocking(network+" client", fd)
		sent, got := make([]byte, 64<<16), make([]byte, 64<<16)
		for i := range sent {
			sent[i] = byte(i * 7)
		}
		wrote := make(chan error, 1)
		go func() { // a writer of its own, so both directions fill up
			w, err := newEnd()
			if err == nil {
				err = rawsock.WriteAll(fd, sent, w)
			}
			wrote <- err
		}()
		if err := rawsock.ReadFull(fd, got, p); err != nil || !bytes.Equal(got, sent) {
			t.Errorf("%s: echo of %d B: equal %v (%v)", network, len(sent), bytes.Equal(got, sent), err)
		}
		if err := <-wrote; err != nil {
			t.Errorf("%s: write: %v", network, err)
		}
		p.Close(fd)
		if err := <-served; err != nil {
			t.Errorf("%s: echo end: %v", network, err)
		}
	}
	lfd, port, err := benchListen("tcp", "127.0.0.1", 128)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(lfd)
	p, err := newEnd()
	if err != nil {
		t.Fatal(err)
	}
	if fd, err := benchDial(p, "tcp", port, nil); !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("dial of a closed port: fd %d, %v, want ECONNREFUSED", fd, err)
	}
}
