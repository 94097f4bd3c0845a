package critest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sockshim/sockshim/internal/testenv"
)

// cleanup undoes Start, in order: the pods (through CRI, while containerd
// and any plugin still run), containerd, what is left of its shims and
// containers (by PID), the cgroup v1 directories runc made for the pods, the
// mounts under Dir, Dir.
func (c *Containerd) cleanup() {
	t := c.t
	if c.cmd != nil {
		if out, err := c.Crictl("rmp", "--all", "--force"); err != nil {
			t.Errorf("remove the pods: %v\n%s", err, out)
		}
	}
	c.Stop()
	if err := killCgroupTree(c.cgroup, filepath.Join(filepath.Dir(c.cgroup), "pods")); err != nil {
		t.Error(err)
	}
	// On a hybrid host runc puts each container in every cgroup v1
	// hierarchy as well, below the same parent as in v2; testenv removes the
	// v2 one.
	if err := removeV1Cgroups(filepath.Dir(c.PodCgroup)); err != nil {
		t.Error(err)
	}
	if err := testenv.UnmountUnder(c.Dir); err != nil {
		t.Errorf("%v: leaving %s in place", err, c.Dir)
	} else {
		os.RemoveAll(c.Dir)
	}
	if t.Failed() {
		t.Logf("containerd's log ends:\n%s", c.LogTail())
	}
}

// killCgroupTree SIGKILLs, by PID, every process in the cgroup v2
// directories dirs and below (only ever what this test started: containerd's
// shims and the containers), and waits until they are gone.
func killCgroupTree(dirs ...string) error {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var pids []int
		for _, dir := range dirs {
			filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					pids = append(pids, readPids(filepath.Join(path, "cgroup.procs"))...)
				}
				return nil
			})
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still run below %v", pids, dirs)
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func readPids(file string) []int {
	data, _ := os.ReadFile(file)
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeV1Cgroups removes rel (a cgroup path such as /sockshim-test-1234)
// and the directories below it from every cgroup v1 hierarchy, deepest
// first. rmdir removes only empty cgroups, so nothing else can go.
func removeV1Cgroups(rel string) error {
	if rel == "/" || rel == "." || rel == "" {
		return fmt.Errorf("refusing to remove the cgroup v1 roots (%q)", rel)
	}
	mounts, err := testenv.MountsOf(func(fstype string) bool { return fstype == "cgroup" })
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		var dirs []string
		filepath.WalkDir(filepath.Join(m, rel), func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for _, d := range slices.Backward(dirs) {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}
