package bpf

import (
	"fmt"
	"testing"
)

// fillPeerRefs puts n records of group into bypass_peer_refs, with keys
// numbered from first, as that many members of the group would.
func fillPeerRefs(tb testing.TB, k *Kernel, group uint64, first, n int) {
	tb.Helper()
	m, err := k.bpfMap(mapPeerRefs)
	if err != nil {
		tb.Fatal(err)
	}
	for i := first; i < first+n; i++ {
		key := bypassSockKey{LocalPort: uint32(i), RemotePort: uint32(i >> 16)}
		key.Local.W[3] = 0x0100007f
		key.Remote.W[3] = 0x0100007f
		if err := m.Put(key, peerRef{GroupID: group}); err != nil {
			tb.Fatalf("put record %d of group %d: %v", i, group, err)
		}
	}
}

// peerRefOwners counts the records of bypass_peer_refs by group.
func peerRefOwners(tb testing.TB, k *Kernel) map[uint64]int {
	tb.Helper()
	m, err := k.bpfMap(mapPeerRefs)
	if err != nil {
		tb.Fatal(err)
	}
	var (
		key bypassSockKey
		ref peerRef
	)
	owners := map[uint64]int{}
	it := m.Iterate()
	for it.Next(&key, &ref) {
		owners[ref.GroupID]++
	}
	if err := it.Err(); err != nil {
		tb.Fatal(err)
	}
	return owners
}

// BenchmarkRemoveGroupOwned times a container's poststop scan of the
// bypass's member records on a host where other containers hold many
// members: one group of 10 members leaves, alone or beside others of 1,000
// to 100,000.
func BenchmarkRemoveGroupOwned(b *testing.B) {
	for _, others := range []int{0, 1000, 10000, 100000} {
		b.Run(fmt.Sprintf("others=%d", others), func(b *testing.B) {
			k := openTestKernel(b)
			fillPeerRefs(b, k, 1, 0, others)
			for b.Loop() {
				b.StopTimer()
				fillPeerRefs(b, k, 2, others, 10)
				b.StartTimer()
				if err := removeGroupOwned[bypassSockKey, peerRef](k, mapPeerRefs, 2); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if got := peerRefOwners(b, k); got[1] != others || got[2] != 0 {
				b.Fatalf("records by group after the removals: %v, want %d of group 1 and none of group 2", got, others)
			}
		})
	}
}
