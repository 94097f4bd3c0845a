package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultRoot is where sockshim pins its programs, maps and links.
const DefaultRoot = "/sys/fs/bpf/sockshim"

// systemBPFFS is the conventional bpffs mount point, which sockshim mounts
// itself when it is not mounted.
const systemBPFFS = "/sys/fs/bpf"

// ensureBPFFS makes sure root lies on a bpffs, mounting the system one at
// /sys/fs/bpf when root is below it and nothing is mounted there.
func ensureBPFFS(root string) error {
	onBPFFS, err := isOnBPFFS(root)
	if err != nil {
		return err
	}
	if onBPFFS {
		return nil
	}
	if root != systemBPFFS && !strings.HasPrefix(root, systemBPFFS+"/") {
		return fmt.Errorf("%s is not on a bpffs: mount one there (mount -t bpf bpf DIR) or point SOCKSHIM_BPFFS below %s", root, systemBPFFS)
	}
	if err := os.MkdirAll(systemBPFFS, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", systemBPFFS, err)
	}
	if err := unix.Mount("bpf", systemBPFFS, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs on %s: %w (mount it by hand: mount -t bpf bpf %s)", systemBPFFS, err, systemBPFFS)
	}
	return nil
}

// isOnBPFFS reports whether path, or its nearest existing ancestor, is on a
// bpffs.
func isOnBPFFS(path string) (bool, error) {
	p := filepath.Clean(path)
	for {
		var st unix.Statfs_t
		err := unix.Statfs(p, &st)
		if err == nil {
			return st.Type == unix.BPF_FS_MAGIC, nil
		}
		if !errors.Is(err, unix.ENOENT) {
			return false, fmt.Errorf("statfs %s: %w", p, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return false, nil
		}
		p = parent
	}
}

// lockDir takes an exclusive flock on dir, serialising the first load and
// pin between processes (hooks of containers started at the same time).
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s for locking: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
