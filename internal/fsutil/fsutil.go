// Package fsutil holds the two file operations sockshim's state relies on:
// a write that a crash or a concurrent reader never sees half done, and an
// exclusive lock between processes (hooks of containers started at once).
package fsutil

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// WriteFileAtomic writes data to path through a temporary file beside it and
// a rename, so path holds either its old content or all of data.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", path, err), os.Remove(tmp))
	}
	return nil
}

// Lock takes an exclusive flock on path (a directory, or a file it creates
// when missing) and blocks until it has it. The lock ends with unlock, or
// with the process.
func Lock(path string) (unlock func(), err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s for locking: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
