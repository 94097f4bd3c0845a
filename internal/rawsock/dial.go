package rawsock

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Dial returns a TCP socket made with f connected to ap. A non-blocking
// one waits for the handshake with w.
func Dial(ap netip.AddrPort, f Flags, w Waiter) (int, error) {
	return DialSetup(ap, f, w, nil)
}

// DialSetup is Dial with setup, when not nil, called on the socket before
// it connects: for options that count only then, as the buffer sizes the
// bypass judges at the handshake.
func DialSetup(ap netip.AddrPort, f Flags, w Waiter, setup func(fd int) error) (int, error) {
	family, sa := sockaddr(ap)
	fd, err := socketSetup(family, f, setup)
	if err != nil {
		return -1, err
	}
	if f&NoDelay != 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("setsockopt(TCP_NODELAY): %w", err)
		}
	}
	if err := connect(fd, sa, ap.String(), w); err != nil {
		return -1, err
	}
	return fd, nil
}

// DialUnix returns an AF_UNIX stream socket made with f connected to path,
// setup (when not nil) called on it first. AF_UNIX connects at once: EAGAIN
// (a full backlog) is an error.
func DialUnix(path string, f Flags, w Waiter, setup func(fd int) error) (int, error) {
	fd, err := socketSetup(unix.AF_UNIX, f, setup)
	if err != nil {
		return -1, err
	}
	if err := connect(fd, &unix.SockaddrUnix{Name: path}, path, w); err != nil {
		return -1, err
	}
	return fd, nil
}

// socketSetup is socket followed by setup, when not nil.
func socketSetup(family int, f Flags, setup func(fd int) error) (int, error) {
	fd, err := socket(family, f)
	if err != nil || setup == nil {
		return fd, err
	}
	if err := setup(fd); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// connect connects fd to sa (named addr in errors). A non-blocking TCP
// socket answers EINPROGRESS; then POLLOUT says the handshake ended and
// SO_ERROR how. On error fd is closed (through w when w is a Closer).
func connect(fd int, sa unix.Sockaddr, addr string, w Waiter) error {
	err := unix.Connect(fd, sa)
	if (err == unix.EINPROGRESS || err == unix.EINTR) && w != nil {
		if err = w.Wait(fd, unix.POLLOUT); err == nil {
			var soErr int
			soErr, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err == nil && soErr != 0 {
				err = unix.Errno(soErr)
			}
		}
	}
	if err != nil {
		closeFD(fd, w)
		return fmt.Errorf("connect %s: %w", addr, err)
	}
	return nil
}
