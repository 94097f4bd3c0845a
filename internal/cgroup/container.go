package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ForContainer returns the cgroup to treat for a container whose init
// process is pid. Where that process shares its cgroup with other processes,
// it makes a child cgroup for the container alone and moves the process
// there; movedFrom is then the cgroup the process came from (see Restore). A
// process in the root cgroup is refused: no runtime leaves a container
// there, and such a pid is more likely the host's own.
func ForContainer(mnt, id string, pid int) (cg, movedFrom string, err error) {
	cur, err := ForPID(mnt, pid)
	if err != nil {
		return "", "", err
	}
	return forContainerIn(mnt, cur, id, pid)
}

// forContainerIn is ForContainer for a process found in cgroup cur; apart so
// that tests can check the refusal of the root without a process there.
func forContainerIn(mnt, cur, id string, pid int) (cg, movedFrom string, err error) {
	if cur == mnt {
		return "", "", fmt.Errorf("process %d is in the root cgroup of the v2 hierarchy: refusing (a container runtime gives each container a cgroup of its own)", pid)
	}
	procs, err := Procs(mnt, cur)
	if err != nil {
		return "", "", err
	}
	if len(procs) == 1 && procs[0] == pid {
		return cur, "", nil
	}
	m, err := load(mnt, cur)
	if err != nil {
		return "", "", err
	}
	name := "sockshim-" + id
	child := filepath.Join(cur, name)
	// No resources: no controllers to enable, nothing written above cur.
	if _, err := m.NewChild(name, nil); err != nil {
		return "", "", fmt.Errorf("create cgroup %s: %w", child, err)
	}
	if err := Move(mnt, child, pid); err != nil {
		if rmErr := os.Remove(child); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove cgroup %s: %w", child, rmErr))
		}
		return "", "", err
	}
	return child, cur, nil
}

// Restore undoes ForContainer after a failure: the process goes back to the
// cgroup it came from and the child cgroup is removed. Both are tried; the
// error joins what failed.
func Restore(mnt, cg, movedFrom string, pid int) error {
	if movedFrom == "" {
		return nil
	}
	err := Move(mnt, movedFrom, pid)
	if rmErr := os.Remove(cg); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		err = errors.Join(err, fmt.Errorf("remove cgroup %s: %w", cg, rmErr))
	}
	return err
}
