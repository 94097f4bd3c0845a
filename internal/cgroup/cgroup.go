// Package cgroup finds the cgroup v2 hierarchy and makes, finds and removes
// the child cgroups sockshim puts processes in.
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
)

// Mountpoint returns where the cgroup v2 hierarchy is mounted, read from
// /proc/self/mountinfo (/sys/fs/cgroup on most hosts, /sys/fs/cgroup/unified
// on hybrid ones).
func Mountpoint() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	return mountpointFrom(bufio.NewScanner(f))
}

func mountpointFrom(sc *bufio.Scanner) (string, error) {
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		if fields[sep+1] == "cgroup2" {
			return unescapeMountPath(fields[4]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read mount table: %w", err)
	}
	return "", errors.New("no cgroup v2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup/unified, or boot with systemd.unified_cgroup_hierarchy=1)")
}

// unescapeMountPath undoes the octal escapes of mountinfo (\040 for space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Create makes the child cgroup at path (below the v2 mountpoint mnt).
func Create(mnt, path string) error {
	rel, err := relative(mnt, path)
	if err != nil {
		return err
	}
	if _, err := cgroup2.NewManager(mnt, rel, &cgroup2.Resources{}); err != nil {
		return fmt.Errorf("create cgroup %s: %w", path, err)
	}
	return nil
}

// Remove kills whatever still runs in the cgroup at path and its
// descendants, waits for them to go and removes the directories. A cgroup
// that does not exist is not an error.
func Remove(mnt, path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	rel, err := relative(mnt, path)
	if err != nil {
		return err
	}
	m, err := cgroup2.Load(rel, cgroup2.WithMountpoint(mnt))
	if err != nil {
		return fmt.Errorf("load cgroup %s: %w", path, err)
	}
	if procs, _ := m.Procs(true); len(procs) > 0 {
		if err := m.Kill(); err != nil {
			return fmt.Errorf("kill processes of cgroup %s: %w", path, err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = m.Delete()
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// relative returns path relative to the mountpoint, with a leading "/", and
// refuses the root itself.
func relative(mnt, path string) (string, error) {
	rel, err := filepath.Rel(mnt, path)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("%s is not a child cgroup of the cgroup v2 mount %s", path, mnt)
	}
	return "/" + rel, nil
}

// ForPID returns the cgroup v2 directory of process pid, below mnt.
func ForPID(mnt string, pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("process %d does not exist", pid)
	}
	if err != nil {
		return "", fmt.Errorf("cgroup of process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(mnt, rest), nil
		}
	}
	return "", fmt.Errorf("process %d is in no cgroup v2", pid)
}

// Procs lists the processes directly in the cgroup at path.
func Procs(path string) ([]int, error) {
	data, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("processes of cgroup %s: %w", path, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Move puts process pid into the cgroup at path.
func Move(path string, pid int) error {
	if err := os.WriteFile(filepath.Join(path, "cgroup.procs"), []byte(fmt.Sprint(pid)), 0); err != nil {
		return fmt.Errorf("move process %d into %s: %w", pid, path, err)
	}
	return nil
}
