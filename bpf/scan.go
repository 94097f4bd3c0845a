package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// firstBatch and scanBatch bound how many entries one BPF_MAP_LOOKUP_BATCH
// asks for: a walk starts small, as most maps hold a few entries and a
// hook's fresh process pays a page fault for every page of a batch's
// buffers, and asks for more while batches come back full. A container's
// poststop scans the member records of every bypassed socket on the host:
// entry by entry (two system calls each, as ebpf.MapIterator reads) that
// took 436 ms beside 100,000 of them, 47 ms in batches
// (BenchmarkRemoveGroupOwned).
const (
	firstBatch = 64
	scanBatch  = 4096
)

// forEach calls fn with every entry of the hash map m, many entries a
// system call. Entries added or removed meanwhile may or may not be seen, as
// with any walk of a map the programs change. A kernel without batch
// operations (before 5.6) is walked key by key.
func forEach[K, V any](m *ebpf.Map, fn func(K, V)) error {
	return forEachBatch(m, firstBatch, fn)
}

// forEachBatch is forEach asking for batch entries at first.
func forEachBatch[K, V any](m *ebpf.Map, batch int, fn func(K, V)) error {
	keys := make([]K, batch)
	values := make([]V, batch)
	grow := func() {
		keys = make([]K, 2*len(keys))
		values = make([]V, 2*len(values))
	}
	var cursor ebpf.MapBatchCursor
	for first := true; ; first = false {
		n, err := m.BatchLookup(&cursor, keys, values, nil)
		switch {
		case errors.Is(err, ebpf.ErrNotSupported) && first:
			return forEachByKey(m, fn)
		case errors.Is(err, unix.ENOSPC) && len(keys) < int(m.MaxEntries()):
			// One hash bucket holds more entries than a batch: none
			// were read, so ask again for more at once.
			grow()
			continue
		case err != nil && !errors.Is(err, ebpf.ErrKeyNotExist):
			return err
		}
		for i := range n {
			fn(keys[i], values[i])
		}
		if err != nil { // ErrKeyNotExist: that was the last batch
			return nil
		}
		if n == len(keys) && len(keys) < scanBatch {
			grow()
		}
	}
}

func forEachByKey[K, V any](m *ebpf.Map, fn func(K, V)) error {
	var (
		key   K
		value V
	)
	it := m.Iterate()
	for it.Next(&key, &value) {
		fn(key, value)
	}
	return it.Err()
}

// deleteKeys deletes keys from m, many a system call; a key already gone is
// no error.
func deleteKeys[K any](m *ebpf.Map, keys []K) error {
	for len(keys) > 0 {
		n, err := m.BatchDelete(keys, nil)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ebpf.ErrKeyNotExist):
			// The kernel stops at the first key that is gone.
			keys = keys[n+1:]
		case errors.Is(err, ebpf.ErrNotSupported):
			return deleteByKey(m, keys)
		default:
			return err
		}
	}
	return nil
}

func deleteByKey[K any](m *ebpf.Map, keys []K) error {
	for _, key := range keys {
		if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete: %w", err)
		}
	}
	return nil
}
