package bpf

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
)

// Counters are what a group's sockets sent through the redirect.
type Counters struct {
	Messages uint64
	Bytes    uint64
	// NormalPath counts the group's sockets whose sends went back to the
	// normal path for good because their peer's queue was full (see
	// bpf/c/normal_path.h).
	NormalPath uint64
	// LeftMap counts the group's sockets that left the bypass map after
	// joining it: they began reading the blocking way, or their peer left
	// (see bpf/c/leave.h).
	LeftMap uint64
}

func (k *Kernel) resetCounters(id uint64) error {
	m, err := k.bpfMap(mapCounters)
	if err != nil {
		return err
	}
	zero := make([]bypassRedirectCounters, ebpf.MustPossibleCPU())
	if err := m.Update(id, zero, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("create counters: %w", err)
	}
	return nil
}

// Counters sums a group's per-CPU redirect counters. A group without the
// bypass has none: zero.
func (k *Kernel) Counters(id uint64) (Counters, error) {
	m, err := k.bpfMap(mapCounters)
	if errors.Is(err, os.ErrNotExist) {
		return Counters{}, nil // no bypass on this host
	}
	if err != nil {
		return Counters{}, err
	}
	var perCPU []bypassRedirectCounters
	err = m.Lookup(id, &perCPU)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return Counters{}, nil
	}
	if err != nil {
		return Counters{}, fmt.Errorf("read counters of group %d: %w", id, err)
	}
	var c Counters
	for _, v := range perCPU {
		c.Messages += v.Messages
		c.Bytes += v.Bytes
		c.NormalPath += v.NormalPath
		c.LeftMap += v.LeftMap
	}
	return c, nil
}

// MapSizes counts the entries of the maps that could grow with sockets or
// groups; the leak tests compare them before and after.
func (k *Kernel) MapSizes() (map[string]int, error) {
	sizes := map[string]int{}
	for _, name := range []string{mapVirtualToHost, mapHostToVirtual, mapHolders, mapCounters, mapSockets, mapPeerRefs, mapListeners, mapScope} {
		m, err := k.bpfMap(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // no bypass on this host
		}
		if err != nil {
			return nil, err
		}
		n, err := countKeys(m)
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", name, err)
		}
		sizes[name] = n
	}
	return sizes, nil
}

func countKeys(m *ebpf.Map) (int, error) {
	var prev []byte // nil: the first key
	next := make([]byte, m.KeySize())
	for n := 0; ; n++ {
		var err error
		if prev == nil {
			err = m.NextKey(nil, next)
		} else {
			err = m.NextKey(prev, next)
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		prev = append(prev[:0], next...)
	}
}
