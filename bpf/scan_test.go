package bpf

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"
)

// The batched walk sees every entry once, also when a batch is smaller than
// a hash bucket (the kernel refuses it with ENOSPC, and the walk asks for
// more), and reads the member records whose socket pointer the kernel hides.
func TestForEachSeesEveryEntryOnce(t *testing.T) {
	k := openTestKernel(t)
	const n = 10000
	fillPeerRefs(t, k, 1, 0, n)
	m, err := k.bpfMap(mapPeerRefs)
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 7, scanBatch} {
		seen := map[bypassSockKey]int{}
		if err := forEachBatch(m, batch, func(key bypassSockKey, ref peerRef) {
			if ref.GroupID != 1 {
				t.Errorf("batch %d: key %v read with group %d, want 1", batch, key, ref.GroupID)
			}
			seen[key]++
		}); err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		if len(seen) != n {
			t.Errorf("batch %d: %d keys seen, want %d", batch, len(seen), n)
		}
		for key, times := range seen {
			if times != 1 {
				t.Errorf("batch %d: key %v seen %d times", batch, key, times)
			}
		}
	}
}

// Keys already gone do not stop the others from being deleted.
func TestDeleteKeysSkipsKeysAlreadyGone(t *testing.T) {
	k := openTestKernel(t)
	fillPeerRefs(t, k, 1, 0, 100)
	m, err := k.bpfMap(mapPeerRefs)
	if err != nil {
		t.Fatal(err)
	}
	var keys []bypassSockKey
	if err := forEach(m, func(key bypassSockKey, _ peerRef) { keys = append(keys, key) }); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 50, 99} {
		if err := m.Delete(keys[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := deleteKeys(m, keys); err != nil {
		t.Fatalf("delete keys, 3 of them gone: %v", err)
	}
	var key bypassSockKey
	if err := m.NextKey(nil, &key); !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Fatalf("map not empty after deleting every key: first key %v, %v", key, err)
	}
}

// A poststop removes its group's records and only those, among more than a
// batch of others.
func TestRemoveGroupOwnedLeavesOtherGroups(t *testing.T) {
	k := openTestKernel(t)
	fillPeerRefs(t, k, 1, 0, 2*scanBatch+5)
	fillPeerRefs(t, k, 2, 2*scanBatch+5, 300)
	if err := removeGroupOwned[bypassSockKey, peerRef](k, mapPeerRefs, 2); err != nil {
		t.Fatal(err)
	}
	if got := peerRefOwners(t, k); len(got) != 1 || got[1] != 2*scanBatch+5 {
		t.Fatalf("records by group: %v, want only %d of group 1", got, 2*scanBatch+5)
	}
}
