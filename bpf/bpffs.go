package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/fsutil"
)

// DefaultRoot is where sockshim pins its programs, maps and links.
const DefaultRoot = "/sys/fs/bpf/sockshim"

// SystemBPFFS is the conventional bpffs mount point, which sockshim mounts
// itself when it is not mounted.
const SystemBPFFS = "/sys/fs/bpf"

// FSState is where a pin root stands.
type FSState struct {
	// Base is the root or, when it does not exist yet, its nearest
	// existing ancestor: where the file system was looked at.
	Base    string
	OnBPFFS bool
	// AutoMount: the root lies below SystemBPFFS, which sockshim mounts
	// on first use when nothing is mounted there.
	AutoMount bool
}

// CheckFS looks at the file system under root without changing anything.
func CheckFS(root string) (FSState, error) {
	root = filepath.Clean(root)
	st := FSState{Base: root, AutoMount: root == SystemBPFFS || strings.HasPrefix(root, SystemBPFFS+"/")}
	for {
		var fs unix.Statfs_t
		err := unix.Statfs(st.Base, &fs)
		if err == nil {
			st.OnBPFFS = fs.Type == unix.BPF_FS_MAGIC
			return st, nil
		}
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
			return st, fmt.Errorf("statfs %s: %w", st.Base, err)
		}
		parent := filepath.Dir(st.Base)
		if parent == st.Base {
			return st, nil
		}
		st.Base = parent
	}
}

// ensureBPFFS makes sure root lies on a bpffs, mounting the system one at
// /sys/fs/bpf when root is below it and nothing is mounted there.
func ensureBPFFS(root string) error {
	st, err := CheckFS(root)
	if err != nil || st.OnBPFFS {
		return err
	}
	if !st.AutoMount {
		return fmt.Errorf("%s is not on a bpffs: mount one there (mount -t bpf bpf DIR) or point SOCKSHIM_BPFFS below %s", root, SystemBPFFS)
	}
	if err := os.MkdirAll(SystemBPFFS, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", SystemBPFFS, err)
	}
	if err := unix.Mount("bpf", SystemBPFFS, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs on %s: %w (mount it by hand: mount -t bpf bpf %s)", SystemBPFFS, err, SystemBPFFS)
	}
	return nil
}

// lockDir takes an exclusive flock on dir, serialising the first load and
// pin between processes (hooks of containers started at the same time).
func lockDir(dir string) (unlock func(), err error) { return fsutil.Lock(dir) }
