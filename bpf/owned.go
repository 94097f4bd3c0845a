package bpf

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
)

// Some entries are created by the programs for a socket and removed by them
// when the socket closes, but only while the socket's group is attached. The
// entries of sockets still open when their group goes carry the group id and
// are removed with the group.

// groupOwned is a map value that names the group that created it.
type groupOwned interface{ owner() uint64 }

// peerRef is bypass_peer_refs' value as userspace sees it: the kernel hides
// the socket pointer (a kptr) and shows zero in its place. Once removed, the
// socket's peer sends by the normal path.
type peerRef struct {
	Socket     uint64
	GroupID    uint64
	PeerClosed uint32
	PeerLeft   uint32
}

func (r peerRef) owner() uint64 { return r.GroupID }

// listenerCount is bypass_listeners' value. Once removed, new connections to
// the listener stay out of the bypass.
type listenerCount struct {
	Sockets uint32
	_       uint32
	GroupID uint64
	Socket  uint64 // a kptr: the kernel shows zero
	Cookie  uint64
}

func (c listenerCount) owner() uint64 { return c.GroupID }

// removeGroupOwned deletes the entries of map name that group groupID
// created.
func removeGroupOwned[K any, V groupOwned](k *Kernel, name string, groupID uint64) error {
	m, err := k.bpfMap(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil // no bypass on this host
	}
	if err != nil {
		return err
	}
	if err := deleteWhere(m, func(_ K, v V) bool { return v.owner() == groupID }); err != nil {
		return fmt.Errorf("remove the entries of group %d from %s: %w", groupID, name, err)
	}
	return nil
}

// deleteWhere deletes the entries of m for which match holds: the keys are
// read first, then deleted, as iterating while deleting may skip keys.
func deleteWhere[K, V any](m *ebpf.Map, match func(K, V) bool) error {
	var stale []K
	if err := forEach(m, func(key K, value V) {
		if match(key, value) {
			stale = append(stale, key)
		}
	}); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if err := deleteKeys(m, stale); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// removeSocketEntries deletes the per-socket entries of a group.
func (k *Kernel) removeSocketEntries(groupID uint64) error {
	if err := removeGroupOwned[bypassSockKey, peerRef](k, mapPeerRefs, groupID); err != nil {
		return err
	}
	if err := removeGroupOwned[bypassListenerKey, listenerCount](k, mapListeners, groupID); err != nil {
		return err
	}
	return k.removeScope(groupID)
}
