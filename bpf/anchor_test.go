package bpf

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/sockshim/sockshim/internal/cgroup"
	"github.com/sockshim/sockshim/internal/testenv"
)

// The first load leaves one program per attach type on the anchor cgroup,
// a second open adds none, and reset removes the cgroup.
func TestAnchorHeldUntilReset(t *testing.T) {
	k := openTestKernel(t)
	types := map[ebpf.AttachType]bool{}
	for _, p := range cgroupPrograms {
		types[p.attach] = true
	}
	anchor := cgroup.AnchorPath(testenv.CgroupMount(t), k.root)
	if n, err := testenv.AttachedPrograms(anchor); err != nil || n != len(types) {
		t.Fatalf("anchor %s has %d programs attached (%v), want one per attach type: %d", anchor, n, err, len(types))
	}
	k2, err := Open(k.root)
	if err != nil {
		t.Fatal(err)
	}
	k2.Close()
	if n, _ := testenv.AttachedPrograms(anchor); n != len(types) {
		t.Fatalf("after a second open the anchor has %d programs, want %d", n, len(types))
	}
	if err := Reset(k.root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(anchor); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the anchor cgroup is still there after reset (%v)", err)
	}
}
