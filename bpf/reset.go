package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Reset detaches and unpins everything sockshim pinned under root: every
// group's links (so every attachment), the programs and the maps. Sockets
// that are in the socket map keep their redirect until they close, so no byte
// in flight is lost.
func Reset(root string) error {
	if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	onBPFFS, err := isOnBPFFS(root)
	if err != nil {
		return err
	}
	if !onBPFFS {
		return fmt.Errorf("%s is not on a bpffs: nothing of sockshim's can be pinned there", root)
	}
	// Detach every group's links first, so that no attachment outlives
	// the call (unpinning alone releases them later).
	groups, _ := os.ReadDir(filepath.Join(root, "groups"))
	var errs []error
	for _, g := range groups {
		links, _ := os.ReadDir(filepath.Join(root, "groups", g.Name()))
		for _, l := range links {
			if _, err := detachPinnedLink(filepath.Join(root, "groups", g.Name(), l.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("unpin %s: %w", root, err)
	}
	return nil
}
