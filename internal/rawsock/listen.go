package rawsock

import (
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// Listen returns a TCP socket made with f listening on ap (port 0: one the
// kernel chooses) with backlog, and the address it is bound to.
func Listen(ap netip.AddrPort, backlog int, f Flags) (int, netip.AddrPort, error) {
	family, sa := sockaddr(ap)
	fd, err := socket(family, f)
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	if f&ReuseAddr != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			unix.Close(fd)
			return -1, netip.AddrPort{}, fmt.Errorf("setsockopt(SO_REUSEADDR): %w", err)
		}
	}
	if err := listen(fd, sa, backlog, ap.String()); err != nil {
		return -1, netip.AddrPort{}, err
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, netip.AddrPort{}, fmt.Errorf("getsockname: %w", err)
	}
	return fd, addrPort(bound), nil
}

// ListenUnix returns an AF_UNIX stream socket made with f listening on
// path with backlog, in place of whatever path named before.
func ListenUnix(path string, backlog int, f Flags) (int, error) {
	fd, err := socket(unix.AF_UNIX, f)
	if err != nil {
		return -1, err
	}
	os.Remove(path)
	if err := listen(fd, &unix.SockaddrUnix{Name: path}, backlog, path); err != nil {
		return -1, err
	}
	return fd, nil
}

// listen binds fd to sa (named addr in errors) and listens; on error it
// closes fd.
func listen(fd int, sa unix.Sockaddr, backlog int, addr string) error {
	err := unix.Bind(fd, sa)
	if err != nil {
		err = fmt.Errorf("bind %s: %w", addr, err)
	} else if err = unix.Listen(fd, backlog); err != nil {
		err = fmt.Errorf("listen on %s: %w", addr, err)
	}
	if err != nil {
		unix.Close(fd)
	}
	return err
}
