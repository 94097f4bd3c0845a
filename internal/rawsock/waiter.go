package rawsock

import (
	"golang.org/x/sys/unix"
)

// A Waiter blocks until fd is ready for events (unix.POLLIN or
// unix.POLLOUT, which equal EPOLLIN and EPOLLOUT), or has an error or a
// hang-up, which the call tried again then reports. Timeout and Deadline
// wait with poll(2); the benchmark's ends wait with an epoll instance of
// their own. A nil Waiter never waits: EAGAIN and EINPROGRESS are errors,
// as they are on a blocking socket with no timeout.
type Waiter interface {
	Wait(fd int, events int16) error
}

// A Closer is a Waiter that keeps fds registered (an epoll set): an fd it
// may have waited on is closed through it, so that it forgets the fd
// before the number can come back for a new socket.
type Closer interface {
	Close(fd int)
}

// closeFD closes fd, through w when w is a Closer.
func closeFD(fd int, w Waiter) {
	if c, ok := w.(Closer); ok {
		c.Close(fd)
		return
	}
	unix.Close(fd)
}

// Again says what to do after a call on fd returned err: retry (after
// EINTR, or after EAGAIN once w says fd is ready for events), or give up
// with an error (err itself, or w's). retry is false with no error when
// err is nil.
func Again(fd int, events int16, err error, w Waiter) (retry bool, _ error) {
	switch {
	case err == nil:
		return false, nil
	case err == unix.EINTR:
		return true, nil
	case err == unix.EAGAIN && w != nil:
		return true, w.Wait(fd, events)
	}
	return false, err
}
