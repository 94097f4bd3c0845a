package rawsock

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// ReadFull reads exactly len(b) bytes from fd, waiting with w after EAGAIN.
// The peer's end of the stream before then is io.ErrUnexpectedEOF.
func ReadFull(fd int, b []byte, w Waiter) error {
	for off := 0; off < len(b); {
		n, err := Read(fd, b[off:], w)
		if err != nil {
			return fmt.Errorf("read after %d of %d bytes: %w", off, len(b), err)
		}
		if n == 0 {
			return fmt.Errorf("end of stream after %d of %d bytes: %w", off, len(b), io.ErrUnexpectedEOF)
		}
		off += n
	}
	return nil
}

// WriteAll writes all of b to fd with write(2), waiting with w after EAGAIN.
func WriteAll(fd int, b []byte, w Waiter) error {
	return sendAll(fd, b, w, "write", unix.Write)
}

// SendAll sends all of b to fd with sendmsg(2) and flags (MSG_MORE, say),
// waiting with w after EAGAIN.
func SendAll(fd int, b []byte, flags int, w Waiter) error {
	return sendAll(fd, b, w, "sendmsg", func(fd int, b []byte) (int, error) {
		return unix.SendmsgN(fd, b, nil, nil, flags)
	})
}

// sendAll calls write (the syscall named call) until all of b is sent.
func sendAll(fd int, b []byte, w Waiter, call string, write func(int, []byte) (int, error)) error {
	for off := 0; off < len(b); {
		n, err := retried(fd, b[off:], unix.POLLOUT, w, write)
		if err != nil {
			return fmt.Errorf("%s after %d of %d bytes: %w", call, off, len(b), err)
		}
		off += n
	}
	return nil
}
