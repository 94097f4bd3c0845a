package bpf

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
)

// peerRef is bypass_peer_refs' value as userspace sees it: the kernel hides
// the socket pointer (a kptr) and shows zero in its place.
type peerRef struct {
	Socket  uint64
	GroupID uint64
}

// removePeerRefs deletes the peer records of a group's sockets. A socket
// removes its own record when it closes, but only while its group is
// attached; the records of sockets still open when the group goes are removed
// here, and their peers then send by the normal path.
func (k *Kernel) removePeerRefs(groupID uint64) error {
	m, err := k.bpfMap(mapPeerRefs)
	if errors.Is(err, os.ErrNotExist) {
		return nil // no bypass on this host
	}
	if err != nil {
		return err
	}
	var (
		key   bypassSockKey
		ref   peerRef
		stale []bypassSockKey
	)
	it := m.Iterate()
	for it.Next(&key, &ref) {
		if ref.GroupID == groupID {
			stale = append(stale, key)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read %s: %w", mapPeerRefs, err)
	}
	for _, key := range stale {
		if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("remove a peer record of group %d: %w", groupID, err)
		}
	}
	return nil
}
