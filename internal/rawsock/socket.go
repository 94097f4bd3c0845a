// Package rawsock holds the raw-syscall stream sockets of sockshim's
// benchmark ends, test helpers and doctor probes: sockets outside Go's
// netpoller, so that the bypass sees exactly the flags and calls a program
// makes (the bypass takes only non-blocking sockets; the doctor's probes
// compare blocking reads).
//
// A socket is non-blocking when it is made with NonBlock and blocking
// otherwise. On a non-blocking socket every call is tried first and waits,
// through a Waiter, only after EAGAIN (or EINPROGRESS for a connect).
package rawsock

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Flags say how a socket is made.
type Flags int

const (
	// NonBlock makes the socket non-blocking from its creation:
	// SOCK_NONBLOCK to socket(2) and accept4(2).
	NonBlock Flags = 1 << iota
	// ReuseAddr sets SO_REUSEADDR on a TCP listener before it binds.
	ReuseAddr
	// NoDelay sets TCP_NODELAY on a dialled TCP socket before it
	// connects (AF_UNIX sockets ignore it).
	NoDelay
)

// socket opens a close-on-exec stream socket of family.
func socket(family int, f Flags) (int, error) {
	typ := unix.SOCK_STREAM | unix.SOCK_CLOEXEC
	if f&NonBlock != 0 {
		typ |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(family, typ, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	return fd, nil
}

// sockaddr is ap as the kernel takes it: AF_INET for an IPv4 address,
// AF_INET6 for any other.
func sockaddr(ap netip.AddrPort) (int, unix.Sockaddr) {
	if ap.Addr().Is4() {
		return unix.AF_INET, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	}
	return unix.AF_INET6, &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
}

// addrPort is the address of sa, a TCP socket's.
func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return netip.AddrPort{}
}
