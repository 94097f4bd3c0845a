package group

import (
	"errors"

	"golang.org/x/sys/unix"
)

// hostPortFree reports whether port can be bound on the host right now, for
// TCP or UDP, on every address: a dual-stack wildcard bind conflicts with any
// existing IPv4 or IPv6 binding of the port. Hosts without IPv6 fall back to
// the IPv4 wildcard. SO_REUSEADDR is set as servers set it, so connections in
// TIME_WAIT on the port do not count as taking it.
func hostPortFree(proto string, port uint16) bool {
	typ, p := unix.SOCK_STREAM, unix.IPPROTO_TCP
	if proto == "udp" {
		typ, p = unix.SOCK_DGRAM, unix.IPPROTO_UDP
	}
	fd, err := unix.Socket(unix.AF_INET6, typ|unix.SOCK_CLOEXEC, p)
	if err == nil {
		defer unix.Close(fd)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err == nil {
			err = unix.Bind(fd, &unix.SockaddrInet6{Port: int(port)})
			return !errors.Is(err, unix.EADDRINUSE) && err == nil
		}
	}
	fd4, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, p)
	if err != nil {
		return false
	}
	defer unix.Close(fd4)
	unix.SetsockoptInt(fd4, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	return unix.Bind(fd4, &unix.SockaddrInet4{Port: int(port)}) == nil
}
