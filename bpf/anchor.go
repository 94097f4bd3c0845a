package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/sockshim/sockshim/internal/cgroup"
)

// The anchor. The kernel turns a static key on when the first program of an
// attach type is attached to any cgroup, and off when the last one goes, and
// each turn patches kernel text on every CPU. For the 9 attach types of a
// group with a TCP port and the bypass that cost 0.8 ms at set-up and again
// at teardown (BenchmarkContainerStartStop, alone against beside another
// group): every container start paid it on a host without another sockshim
// container. So the first load attaches one of this build's programs per
// attach type to an empty cgroup of sockshim's own, the anchor, and keeps
// the links pinned until reset. No process is ever in the anchor, so its
// programs never run; its group config stays zero, which they read as "leave
// the socket alone" anyway.

// anchorDir holds the anchor's links of this build.
func (k *Kernel) anchorDir() string { return filepath.Join(k.root, anchorDirName, buildID) }

// anchored reports whether this build's anchor is in place.
func (k *Kernel) anchored() bool {
	_, err := os.Stat(k.anchorDir())
	return err == nil
}

// attachAnchor attaches and pins the anchor's links (best effort: without
// them set-up and teardown are only slower, so a host where sockshim may not
// make a cgroup still works). The links of other builds go after these are
// in, so the keys never turn off in between.
func (k *Kernel) attachAnchor() {
	mnt, err := cgroup.Mountpoint()
	if err != nil {
		return
	}
	cg := cgroup.AnchorPath(mnt, k.root)
	if err := os.Mkdir(cg, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return
	}
	if _, err := CgroupID(cg); err != nil {
		return // refuses anything but a child cgroup v2 directory
	}
	if err := os.MkdirAll(k.anchorDir(), 0o700); err != nil {
		return
	}
	seen := map[ebpf.AttachType]bool{}
	for _, p := range cgroupPrograms {
		if o, ok := optionalObject(p.concern); ok && !k.loaded(o.concern) || seen[p.attach] {
			continue
		}
		seen[p.attach] = true
		pinPath := filepath.Join(k.anchorDir(), p.name)
		if _, err := os.Stat(pinPath); err == nil {
			continue
		}
		prog, err := k.program(p.name)
		if err != nil {
			return
		}
		l, err := link.AttachCgroup(link.CgroupOptions{Path: cg, Attach: p.attach, Program: prog})
		if err != nil {
			return
		}
		err = l.Pin(pinPath)
		l.Close()
		if err != nil {
			return
		}
	}
	old, _ := otherBuilds(filepath.Dir(k.anchorDir()))
	for _, dir := range old {
		detachLinks(dir)
		os.RemoveAll(dir)
	}
}

// removeAnchor removes the anchor cgroup of the installation pinned under
// root, once Reset has detached its links. One that is not there is not an
// error.
func removeAnchor(root string) error {
	mnt, err := cgroup.Mountpoint()
	if err != nil {
		return nil // no cgroup v2: no anchor could be made
	}
	cg := cgroup.AnchorPath(mnt, root)
	if err := os.Remove(cg); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the anchor cgroup %s: %w", cg, err)
	}
	return nil
}
