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
	// joining it: they began reading the blocking way, their connection's
	// buffers were set small at both ends, or their peer left (see
	// bpf/c/leave.h).
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
