package bench

import (
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/rawsock"
)

// The ends of the benchmark, run by `sockshim bench` as separate processes
// (each in its own group). Their sockets are non-blocking, because the
// bypass only takes non-blocking sockets (the kernel's sockmap receive path
// mistreats blocking reads), and each end waits for them with its own epoll
// instance on one locked OS thread pinned to a CPU: raw syscalls, no Go
// netpoller or scheduler in the figures, only the kernel's path.

// startEnd locks the goroutine to its OS thread and that thread to cpu (-1:
// no pinning), and opens the end's epoll instance.
func startEnd(cpu int) (*poller, error) {
	runtime.LockOSThread()
	if cpu >= 0 {
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return nil, fmt.Errorf("pin to CPU %d: %w", cpu, err)
		}
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return &poller{epfd: epfd, fd: -1}, nil
}

// poller is an end's epoll instance. An end waits for one socket at a time,
// so only that one is registered, level-triggered, for the direction it
// waits in; EPOLL_CTL_MOD runs only when the direction changes, so a round
// trip that keeps waiting for EPOLLIN costs one epoll_wait per wait and
// nothing when the data is already there (every syscall is tried first).
// Sockets that may be registered are closed with Close: the next socket
// can get the same number and must be registered afresh.
type poller struct {
	epfd   int
	fd     int    // the registered socket, -1 for none
	events uint32 // what fd is registered for
	ready  [1]unix.EpollEvent
}

// Wait blocks until fd is ready for events (POLLIN or POLLOUT, the same
// bits as EPOLLIN and EPOLLOUT) or has an error or hang-up, which the
// retried syscall then reports: the poller is the rawsock.Waiter of the
// end's sockets.
func (p *poller) Wait(fd int, events int16) error {
	if ev := uint32(events); fd != p.fd || ev != p.events {
		op := unix.EPOLL_CTL_MOD
		if fd != p.fd {
			if p.fd >= 0 {
				unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, p.fd, nil)
			}
			p.fd, op = -1, unix.EPOLL_CTL_ADD
		}
		if err := unix.EpollCtl(p.epfd, op, fd, &unix.EpollEvent{Events: ev, Fd: int32(fd)}); err != nil {
			return fmt.Errorf("epoll_ctl: %w", err)
		}
		p.fd, p.events = fd, ev
	}
	_, err := rawsock.EpollWait(p.epfd, p.ready[:], -1)
	return err
}

// Close closes fd and forgets its registration (closing removed it): the
// poller is a rawsock.Closer.
func (p *poller) Close(fd int) {
	if fd == p.fd {
		p.fd = -1
	}
	unix.Close(fd)
}

// benchListen returns a non-blocking listening socket with backlog for
// network "tcp" (addr is the IP to listen on, port chosen by the kernel) or
// "unix" (addr is the path) and the address to dial: the port, or the path.
func benchListen(network, addr string, backlog int) (fd int, dial string, err error) {
	if network == "unix" {
		fd, err = rawsock.ListenUnix(addr, backlog, rawsock.NonBlock)
		return fd, addr, err
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is4() {
		return -1, "", fmt.Errorf("listen address %q: want an IPv4 address", addr)
	}
	fd, bound, err := rawsock.Listen(netip.AddrPortFrom(ip, 0), backlog, rawsock.NonBlock|rawsock.ReuseAddr)
	if err != nil {
		return -1, "", err
	}
	return fd, strconv.Itoa(int(bound.Port())), nil
}

// benchDial returns a non-blocking socket connected to addr: a path for
// "unix", for "tcp" IP:PORT or just PORT (on 127.0.0.1), with TCP_NODELAY.
// setup, when not nil, is called on the socket before it connects.
func benchDial(p *poller, network, addr string, setup func(fd int) error) (int, error) {
	if network == "unix" {
		return rawsock.DialUnix(addr, rawsock.NonBlock, p, setup)
	}
	if !strings.Contains(addr, ":") {
		addr = "127.0.0.1:" + addr
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return -1, fmt.Errorf("address %q: want IPv4:PORT or PORT", addr)
	}
	return rawsock.DialSetup(ap, rawsock.NonBlock|rawsock.NoDelay, p, setup)
}
