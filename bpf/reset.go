package bpf

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/pin"
	"golang.org/x/sys/unix"
)

// Reset detaches and unpins everything sockshim pinned under root: every
// group's links (so every attachment), the anchor's, the programs and the
// maps; and it removes the anchor cgroup. Sockets
// that are in the socket map keep their redirect until they close, so no byte
// in flight is lost.
func Reset(root string) error {
	if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
		return removeAnchor(root) // its links went with the pins
	}
	st, err := CheckFS(root)
	if err != nil {
		return err
	}
	if !st.OnBPFFS {
		return fmt.Errorf("%s is not on a bpffs: nothing of sockshim's can be pinned there", root)
	}
	// Detach the links first, so that no attachment outlives the call
	// (unpinning alone releases them later). On error nothing is unpinned:
	// the pins stay for another try.
	for _, dir := range linkDirs(root) {
		if err := detachLinks(dir); err != nil {
			return err
		}
	}
	for _, dir := range pinDirs(root) {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("unpin %s: %w", dir, err)
		}
	}
	if err := removeRoot(root); err != nil {
		return err
	}
	return removeAnchor(root)
}

// removeRoot removes root once sockshim's pins are gone from it. A root that
// is itself a bpffs mount point stays, and so do files sockshim did not make
// (a fresh bpffs holds the kernel's own maps.debug and progs.debug, which
// cannot be unlinked).
func removeRoot(root string) error {
	err := os.Remove(root)
	switch {
	case err == nil, errors.Is(err, os.ErrNotExist), errors.Is(err, unix.EBUSY), errors.Is(err, unix.ENOTEMPTY):
		return nil
	}
	return fmt.Errorf("remove %s: %w", root, err)
}

// detachLinks detaches every link pinned under dir. The walk stops at a pin
// that vanishes under it, as one does when a container's poststop hook
// detaches its group meanwhile; the rest still needs detaching, so the walk
// starts again (detaching a link twice is harmless).
func detachLinks(dir string) error {
	var err error
	for range 3 {
		if err = detachLinksOnce(dir); !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	return err
}

func detachLinksOnce(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []error
	for p, err := range pin.WalkDir(dir, nil) {
		if err != nil {
			errs = append(errs, fmt.Errorf("list pins under %s: %w", dir, err))
			break
		}
		l, ok := p.Object.(link.Link)
		if !ok {
			continue
		}
		if err := l.Detach(); err != nil && !errors.Is(err, unix.ENOLINK) {
			errs = append(errs, fmt.Errorf("detach %s: %w", p.Path, err))
		}
	}
	return errors.Join(errs...)
}
