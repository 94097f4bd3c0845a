package rawsock

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Poll waits up to timeout (negative: for ever) for events on fd, and
// reports whether they came. An EINTR is waited through while time is left.
func Poll(fd int, events int16, timeout time.Duration) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
	n, err := retry(timeout, func(ms int) (int, error) { return unix.Poll(fds, ms) })
	if err != nil {
		return false, fmt.Errorf("poll: %w", err)
	}
	return n > 0, nil
}

// EpollWait waits up to timeout (negative: for ever) for events on the
// epoll instance epfd, and returns how many it put in events. An EINTR (Go's
// preemption signals) is waited through while time is left.
func EpollWait(epfd int, events []unix.EpollEvent, timeout time.Duration) (int, error) {
	n, err := retry(timeout, func(ms int) (int, error) { return unix.EpollWait(epfd, events, ms) })
	if err != nil {
		return 0, fmt.Errorf("epoll_wait: %w", err)
	}
	return n, nil
}

// retry calls wait with what is left of timeout in milliseconds, rounded
// up (-1 for a negative timeout: no limit), again after EINTR while time
// is left.
func retry(timeout time.Duration, wait func(ms int) (int, error)) (int, error) {
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		ms := -1
		if timeout >= 0 {
			ms = 0
			if left := time.Until(deadline); left > 0 {
				ms = int((left + time.Millisecond - 1) / time.Millisecond)
			}
		}
		n, err := wait(ms)
		if err == unix.EINTR && ms != 0 {
			continue
		}
		return n, err
	}
}
