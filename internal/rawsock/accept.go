package rawsock

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Accept returns the next connection of the listener lfd as a socket made
// with f (a non-blocking listener hands out non-blocking sockets only with
// NonBlock). On a non-blocking listener it waits with w after EAGAIN;
// aborted connections are passed over.
func Accept(lfd int, f Flags, w Waiter) (int, error) {
	flags := unix.SOCK_CLOEXEC
	if f&NonBlock != 0 {
		flags |= unix.SOCK_NONBLOCK
	}
	for {
		fd, _, err := unix.Accept4(lfd, flags)
		if err == nil {
			return fd, nil
		}
		if err == unix.ECONNABORTED {
			continue
		}
		if _, err := Again(lfd, unix.POLLIN, err, w); err != nil {
			return -1, fmt.Errorf("accept: %w", err)
		}
	}
}
