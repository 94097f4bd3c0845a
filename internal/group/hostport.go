package group

import (
	"golang.org/x/sys/unix"
)

// hostPortFree reports whether port can be bound on the host right now, for
// TCP or UDP, on every address: a dual-stack wildcard bind conflicts with any
// existing IPv4 or IPv6 binding of the port. Hosts without IPv6 fall back to
// the IPv4 wildcard.
//
// strict leaves SO_REUSEADDR off, so a port with connections in TIME_WAIT
// counts as taken: pool ports are chosen that way, because a server that does
// not set SO_REUSEADDR could not bind one, which in a network namespace of
// its own would never happen. A fixed port is checked leniently, as servers
// bind (with SO_REUSEADDR): TIME_WAIT alone does not refuse a container.
func hostPortFree(proto string, port uint16, strict bool) bool {
	typ, p := unix.SOCK_STREAM, unix.IPPROTO_TCP
	if proto == "udp" {
		typ, p = unix.SOCK_DGRAM, unix.IPPROTO_UDP
	}
	try := func(family int, sa unix.Sockaddr) (bound, ok bool) {
		fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, p)
		if err != nil {
			return false, false
		}
		defer unix.Close(fd)
		if family == unix.AF_INET6 {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
				return false, false
			}
		}
		if !strict {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		}
		return unix.Bind(fd, sa) == nil, true
	}
	if bound, ok := try(unix.AF_INET6, &unix.SockaddrInet6{Port: int(port)}); ok {
		return bound
	}
	bound, _ := try(unix.AF_INET, &unix.SockaddrInet4{Port: int(port)})
	return bound
}
