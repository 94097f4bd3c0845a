package fsutil

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	for _, content := range []string{"first\n", "second, longer\n"} {
		if err := WriteFileAtomic(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read back %q (%v), want %q", got, err, content)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(entries))
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "f"), nil, 0o600); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// While one holder has the lock, another descriptor's non-blocking flock
// is refused and a second Lock waits until the first unlocks.
func TestLockExcludes(t *testing.T) {
	for _, path := range []string{t.TempDir(), filepath.Join(t.TempDir(), "lock")} {
		unlock, err := Lock(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != unix.EWOULDBLOCK {
			t.Errorf("%s: a second flock while locked: %v, want EWOULDBLOCK", path, err)
		}
		f.Close()
		got := make(chan error, 1)
		go func() {
			u, err := Lock(path)
			if err == nil {
				u()
			}
			got <- err
		}()
		unlock()
		select {
		case err := <-got:
			if err != nil {
				t.Errorf("%s: second Lock: %v", path, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: second Lock still waiting 10 s after unlock", path)
		}
	}
}
