package rawsock

import (
	"golang.org/x/sys/unix"
)

// Read is one read(2) of fd that waits with w only after EAGAIN: n > 0, or
// 0 at the peer's end of the stream. Its errors are the syscall's or w's.
func Read(fd int, b []byte, w Waiter) (int, error) {
	return retried(fd, b, unix.POLLIN, w, unix.Read)
}

// retried is one call of rw (a read or a write) on fd that waits with w for
// events only after EAGAIN.
func retried(fd int, b []byte, events int16, w Waiter, rw func(int, []byte) (int, error)) (int, error) {
	for {
		n, err := rw(fd, b)
		if err == nil {
			return n, nil
		}
		if _, err := Again(fd, events, err, w); err != nil {
			return 0, err
		}
	}
}
