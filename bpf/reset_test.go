package bpf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/internal/cgroup"
	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/testenv"
)

// A walk that restarts detaches links it already detached; a container whose
// cgroup is gone leaves links the kernel already took off it.
func TestDetachLinksTwiceAndDefunct(t *testing.T) {
	k := openTestKernel(t)
	parent := testenv.CgroupParent(t)
	live := testenv.Cgroup(t, parent, "live")
	gone := testenv.Cgroup(t, parent, "gone")
	for name, cg := range map[string]string{"live": live, "gone": gone} {
		host := map[string]uint16{"live": 21053, "gone": 21054}[name]
		if err := k.AttachGroup(Group{Name: name, Cgroup: cg, Ports: []ports.Mapping{{Proto: "udp", Port: 53, HostPort: host}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := detachLinks(k.groupsDir()); err != nil {
			t.Fatalf("detach links, pass %d: %v", i, err)
		}
	}
	if n := attachedCount(t, live); n != 0 {
		t.Fatalf("%d programs still attached", n)
	}
	k.Close()
	if err := Reset(k.root); err != nil {
		t.Fatalf("reset: %v", err)
	}
}

func TestResetRefusesOtherFilesystems(t *testing.T) {
	err := Reset(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "is not on a bpffs") {
		t.Fatalf("reset of a directory off bpffs: %v", err)
	}
}

// A pin root that is a bpffs mount point of its own, which holds the
// kernel's maps.debug and progs.debug: reset removes sockshim's pins and its
// anchor cgroup, and leaves the mount and the kernel's files.
func TestResetOfMountPointRoot(t *testing.T) {
	root := filepath.Dir(testenv.BPFFS(t)) // the mount point itself
	anchor := cgroup.AnchorPath(testenv.CgroupMount(t), root)
	t.Cleanup(func() { os.Remove(anchor) }) // also when the test fails; its links go with the bpffs
	k, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
	if _, err := os.Stat(anchor); err != nil {
		t.Fatalf("no anchor after the first load: %v", err)
	}
	if err := Reset(root); err != nil {
		t.Fatalf("reset: %v", err)
	}
	left, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		if !strings.HasSuffix(e.Name(), ".debug") {
			t.Errorf("%s left under the root", e.Name())
		}
	}
	if _, err := os.Stat(anchor); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("anchor cgroup after reset: %v", err)
	}
}
