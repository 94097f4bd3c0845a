package cgroup

import (
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
	if cur == mnt {
		return "", "", fmt.Errorf("process %d is in the root cgroup of the v2 hierarchy: refusing (a container runtime gives each container a cgroup of its own)", pid)
	}
	procs, err := Procs(cur)
	if err != nil {
		return "", "", err
	}
	if len(procs) == 1 && procs[0] == pid {
		return cur, "", nil
	}
	child := filepath.Join(cur, "sockshim-"+id)
	if err := Create(mnt, child); err != nil {
		return "", "", err
	}
	if err := Move(child, pid); err != nil {
		os.Remove(child)
		return "", "", err
	}
	return child, cur, nil
}

// Restore undoes ForContainer after a failure: the process goes back to the
// cgroup it came from and the child cgroup is removed.
func Restore(cg, movedFrom string, pid int) {
	if movedFrom == "" {
		return
	}
	Move(movedFrom, pid)
	os.Remove(cg)
}
