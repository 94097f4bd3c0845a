package cgroup

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
)

// AnchorPath is the empty cgroup, directly below the v2 mountpoint mnt, on
// which the sockshim installation pinned under pinRoot keeps one link per
// attach type (see bpf's anchor.go). It is named for the pin root, so that
// installations under different bpffs directories (tests, benchmarks) keep
// apart.
func AnchorPath(mnt, pinRoot string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(pinRoot)))
	return filepath.Join(mnt, "sockshim-anchor-"+hex.EncodeToString(sum[:4]))
}
