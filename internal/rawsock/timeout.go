package rawsock

import (
	"fmt"
	"os"
	"time"
)

// Timeout is a Waiter whose every wait lasts at most this long: longer is
// no progress, an error that is os.ErrDeadlineExceeded.
type Timeout time.Duration

func (t Timeout) Wait(fd int, events int16) error {
	ready, err := Poll(fd, events, time.Duration(t))
	if err == nil && !ready {
		err = fmt.Errorf("no progress in %v: %w", time.Duration(t), os.ErrDeadlineExceeded)
	}
	return err
}

// Deadline is a Waiter whose waits all end by one time, the bound of a
// whole operation: past it a wait fails with os.ErrDeadlineExceeded.
type Deadline struct {
	at  time.Time
	set time.Duration // how long before at it was made, for errors
}

// Within is a Deadline d from now.
func Within(d time.Duration) Deadline {
	return Deadline{at: time.Now().Add(d), set: d}
}

func (d Deadline) Wait(fd int, events int16) error {
	ready, err := Poll(fd, events, max(time.Until(d.at), 0))
	if err == nil && !ready {
		err = fmt.Errorf("not done within %v: %w", d.set, os.ErrDeadlineExceeded)
	}
	return err
}
