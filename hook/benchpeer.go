package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
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
// Sockets that may be registered are closed with close: the next socket
// can get the same number and must be registered afresh.
type poller struct {
	epfd   int
	fd     int    // the registered socket, -1 for none
	events uint32 // what fd is registered for
	ready  [1]unix.EpollEvent
}

// wait blocks until fd is ready for events (EPOLLIN or EPOLLOUT) or has an
// error or hang-up, which the retried syscall then reports.
func (p *poller) wait(fd int, events uint32) error {
	if fd != p.fd || events != p.events {
		op := unix.EPOLL_CTL_MOD
		if fd != p.fd {
			if p.fd >= 0 {
				unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, p.fd, nil)
			}
			p.fd, op = -1, unix.EPOLL_CTL_ADD
		}
		ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
		if err := unix.EpollCtl(p.epfd, op, fd, &ev); err != nil {
			return fmt.Errorf("epoll_ctl: %w", err)
		}
		p.fd, p.events = fd, events
	}
	for {
		_, err := unix.EpollWait(p.epfd, p.ready[:], -1)
		if err != unix.EINTR {
			return err
		}
	}
}

// io is one read (events EPOLLIN) or write (EPOLLOUT) of fd that waits only
// after EAGAIN: n > 0, or 0 at the peer's end for a read.
func (p *poller) io(fd int, buf []byte, events uint32) (int, error) {
	for {
		var n int
		var err error
		if events == unix.EPOLLIN {
			n, err = unix.Read(fd, buf)
		} else {
			n, err = unix.Write(fd, buf)
		}
		switch err {
		case nil:
			return n, nil
		case unix.EAGAIN:
			if err := p.wait(fd, events); err != nil {
				return 0, err
			}
		case unix.EINTR:
		default:
			return 0, err
		}
	}
}

// readFull reads exactly len(buf) bytes: a short read is never a reply.
func (p *poller) readFull(fd int, buf []byte) error {
	for off := 0; off < len(buf); {
		n, err := p.io(fd, buf[off:], unix.EPOLLIN)
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("peer closed")
		}
		off += n
	}
	return nil
}

func (p *poller) writeFull(fd int, buf []byte) error {
	for off := 0; off < len(buf); {
		n, err := p.io(fd, buf[off:], unix.EPOLLOUT)
		if err != nil {
			return err
		}
		off += n
	}
	return nil
}

// accept returns the next connection of the non-blocking listener lfd,
// itself non-blocking from the start: the bypass checks both.
func (p *poller) accept(lfd int) (int, error) {
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch err {
		case nil:
			return fd, nil
		case unix.EAGAIN:
			if err := p.wait(lfd, unix.EPOLLIN); err != nil {
				return -1, err
			}
		case unix.EINTR, unix.ECONNABORTED:
		default:
			return -1, err
		}
	}
}

// connect connects the non-blocking fd: TCP answers EINPROGRESS, then
// EPOLLOUT says the handshake ended and SO_ERROR how. AF_UNIX connects at
// once (EAGAIN only with a full backlog, which one client never meets).
func (p *poller) connect(fd int, sa unix.Sockaddr) error {
	if err := unix.Connect(fd, sa); err != unix.EINPROGRESS && err != unix.EINTR {
		return err
	}
	if err := p.wait(fd, unix.EPOLLOUT); err != nil {
		return err
	}
	soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soErr != 0 {
		err = unix.Errno(soErr)
	}
	return err
}

// close closes fd and forgets its registration (closing removed it).
func (p *poller) close(fd int) {
	if fd == p.fd {
		p.fd = -1
	}
	unix.Close(fd)
}

// benchListen returns a non-blocking listening socket for network "tcp"
// (addr is the IP to listen on, port chosen by the kernel) or "unix" (addr
// is the path) and the address to dial: the port, or the path.
func benchListen(network, addr string) (fd int, dial string, err error) {
	if network == "unix" {
		fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, "", err
		}
		os.Remove(addr)
		if err = unix.Bind(fd, &unix.SockaddrUnix{Name: addr}); err != nil {
			return -1, "", err
		}
		return fd, addr, unix.Listen(fd, 128)
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is4() {
		return -1, "", fmt.Errorf("listen address %q: want an IPv4 address", addr)
	}
	fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "", err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err = unix.Bind(fd, &unix.SockaddrInet4{Addr: ip.As4()}); err != nil {
		return -1, "", err
	}
	if err = unix.Listen(fd, 128); err != nil {
		return -1, "", err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return -1, "", err
	}
	return fd, strconv.Itoa(sa.(*unix.SockaddrInet4).Port), nil
}

// benchDial returns a non-blocking socket connected to addr: a path for
// "unix", for "tcp" IP:PORT or just PORT (on 127.0.0.1).
func benchDial(p *poller, network, addr string) (int, error) {
	family, sa := unix.AF_UNIX, unix.Sockaddr(&unix.SockaddrUnix{Name: addr})
	if network != "unix" {
		if !strings.Contains(addr, ":") {
			addr = "127.0.0.1:" + addr
		}
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !ap.Addr().Is4() {
			return -1, fmt.Errorf("address %q: want IPv4:PORT or PORT", addr)
		}
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if family == unix.AF_INET {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if err == nil {
		err = p.connect(fd, sa)
	}
	if err != nil {
		p.close(fd)
		return -1, err
	}
	return fd, nil
}

// socketDrops is the count of segments the kernel dropped on fd's way in
// (SO_MEMINFO's SK_MEMINFO_DROPS); x/sys/unix has no getter for SO_MEMINFO.
func socketDrops(fd int) (int64, error) {
	var info [unix.SK_MEMINFO_VARS]uint32
	size := uint32(len(info) * 4)
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("SO_MEMINFO: %w", errno)
	}
	return int64(info[unix.SK_MEMINFO_DROPS]), nil
}
