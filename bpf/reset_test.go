package bpf

import (
	"os"
	"strings"
	"testing"

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
