// Package testenv gives kernel tests what the project's safety rules ask
// for: a private bpffs, child cgroups of their own, and helper processes
// placed in those cgroups, all removed in t.Cleanup, also on failure.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/cgroup"
)

// RequireRoot skips tests that need root when not root. CI runs as root, so
// there they always run.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: run make test as root")
	}
}

// BPFFS mounts a fresh bpffs in a temporary directory and returns a sockshim
// root inside it. It is unmounted in cleanup, which also drops every pin the
// test made there.
func BPFFS(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	dir := filepath.Join(t.TempDir(), "bpffs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mount test bpffs: %v", err)
	}
	root := filepath.Join(dir, "sockshim")
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount test bpffs: %v", err)
		}
		// The anchor cgroup sockshim made for this root, if it loaded
		// there (its links went with the bpffs).
		anchor := cgroup.AnchorPath(CgroupMount(t), root)
		if err := os.Remove(anchor); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("remove the test's anchor cgroup: %v", err)
		}
	})
	return root
}

// CgroupMount returns the cgroup v2 mountpoint.
func CgroupMount(t testing.TB) string {
	t.Helper()
	mnt, err := cgroup.Mountpoint()
	if err != nil {
		t.Fatal(err)
	}
	return mnt
}

// CgroupParent creates a uniquely named cgroup for this test directly below
// the v2 mount and removes it (and everything in it) in cleanup.
func CgroupParent(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	mnt := CgroupMount(t)
	path := filepath.Join(mnt, "sockshim-test-"+RandomID())
	if err := cgroup.Create(mnt, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cgroup.Remove(mnt, path); err != nil {
			t.Errorf("remove test cgroup: %v", err)
		}
	})
	return path
}

// Cgroup creates a child cgroup named name below parent (removed with the
// parent).
func Cgroup(t testing.TB, parent, name string) string {
	t.Helper()
	path := filepath.Join(parent, name)
	if err := cgroup.Create(CgroupMount(t), path); err != nil {
		t.Fatal(err)
	}
	return path
}

// RandomID returns 8 random hex digits.
func RandomID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Stress picks the short figure for make test and the long one for make
// stress (SOCKSHIM_STRESS=1).
func Stress[T any](short, long T) T {
	if os.Getenv("SOCKSHIM_STRESS") != "" {
		return long
	}
	return short
}
