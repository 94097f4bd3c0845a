package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// Raw socket helpers of the load and churn helpers.

// Every socket of these helpers is non-blocking from its creation, as an
// event loop's are: the bypass takes only sockets whose file is
// non-blocking, and a server's accepted ones only from a non-blocking
// listener.

// listen4 listens on ap (port 0: any) with a non-blocking socket and prints
// the ListenResult.
func listen4(ap netip.AddrPort, backlog int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		return -1, err
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return -1, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return -1, err
	}
	emit(ListenResult{Addr: fmt.Sprintf("%s:%d", ap.Addr(), sa.(*unix.SockaddrInet4).Port)})
	return fd, nil
}

// accept4 accepts a connection on the non-blocking listener lfd, as a
// non-blocking socket, waiting with poll().
func accept4(lfd int) (int, error) {
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED):
		case errors.Is(err, unix.EAGAIN):
			if err := waitFor(lfd, unix.POLLIN); err != nil {
				return -1, fmt.Errorf("accept: %w", err)
			}
		default:
			return -1, fmt.Errorf("accept: %w", err)
		}
	}
}

// dial4 connects a non-blocking socket to ap, waiting with poll().
func dial4(ap netip.AddrPort) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	err = unix.Connect(fd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())})
	if errors.Is(err, unix.EINPROGRESS) {
		if err = waitFor(fd, unix.POLLOUT); err == nil {
			var soErr int
			if soErr, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && soErr != 0 {
				err = unix.Errno(soErr)
			}
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect to %s: %w", ap, err)
	}
	return fd, nil
}

// ioTimeout is how long one read or write may wait: longer is a hang.
const ioTimeout = 30 * time.Second

// waitFor polls fd for events, failing after ioTimeout.
func waitFor(fd int, events int16) error {
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: events}}, int(ioTimeout/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("no progress in %v: hang; %s", ioTimeout, describeSocket(fd))
		}
		return nil
	}
}

// describeSocket tells what the kernel holds for fd's connection, for the
// message of a hang: its queues and ss's view of both ends.
func describeSocket(fd int) string {
	inq, _ := unix.IoctlGetInt(fd, unix.SIOCINQ)
	outq, _ := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	desc := fmt.Sprintf("SIOCINQ %d, SIOCOUTQ %d", inq, outq)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return desc
	}
	var port int
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		port = a.Port
	case *unix.SockaddrInet6:
		port = a.Port
	}
	filter := fmt.Sprintf("( sport = :%d or dport = :%d )", port, port)
	out, _ := exec.Command("ss", "-tnieomp", filter).CombinedOutput()
	return fmt.Sprintf("%s; ss:\n%s", desc, out)
}

// again reports whether err asks to wait for POLLOUT and try again.
func again(fd int, err error) (bool, error) {
	if errors.Is(err, unix.EINTR) {
		return true, nil
	}
	if errors.Is(err, unix.EAGAIN) {
		return true, waitFor(fd, unix.POLLOUT)
	}
	return false, err
}

// readFull reads exactly len(b) bytes, waiting with poll() on a
// non-blocking socket.
func readFull(fd int, b []byte) error {
	for off := 0; off < len(b); {
		n, err := unix.Read(fd, b[off:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			if err := waitFor(fd, unix.POLLIN); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("unexpected end of stream")
		}
		off += n
	}
	return nil
}

func writeAll(fd int, b []byte) error { return sendAll(fd, b, 0) }

func sendAll(fd int, b []byte, flags int) error {
	for off := 0; off < len(b); {
		n, err := unix.SendmsgN(fd, b[off:], nil, nil, flags)
		if retry, err := again(fd, err); err != nil {
			return err
		} else if retry {
			continue
		}
		off += n
	}
	return nil
}

// readToEOF reads a non-blocking socket until the peer's EOF, waiting with
// poll(), and returns how much it read and the SHA-256 of it (also on error:
// what was read until then).
func readToEOF(fd int) (int64, string, error) {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var total int64
	var rerr error
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			if err = waitFor(fd, unix.POLLIN); err == nil {
				continue
			}
		}
		if err != nil {
			rerr = fmt.Errorf("read after %d bytes: %w", total, err)
			break
		}
		if n == 0 {
			break
		}
		h.Write(buf[:n])
		total += int64(n)
	}
	return total, hex.EncodeToString(h.Sum(nil)), rerr
}
