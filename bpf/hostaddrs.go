package bpf

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
)

// syncHostAddrs makes the host_addrs map hold exactly this host's current
// non-loopback addresses, so the programs can tell a local peer from a remote
// one.
func (k *Kernel) syncHostAddrs() error {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("list host addresses: %w", err)
	}
	want := map[[16]byte]bool{}
	for _, a := range ifAddrs {
		prefix, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		addr := prefix.Addr().Unmap()
		if addr.IsLoopback() {
			continue
		}
		want[addr.As16()] = true // IPv4 as IPv4-mapped IPv6, as the programs use
	}
	m, err := k.bpfMap(mapHostAddrs)
	if err != nil {
		return err
	}
	var stale [][16]byte
	if err := forEach(m, func(key [16]byte, _ uint8) {
		if !want[key] {
			stale = append(stale, key)
		}
		delete(want, key)
	}); err != nil {
		return fmt.Errorf("read %s: %w", mapHostAddrs, err)
	}
	if err := deleteKeys(m, stale); err != nil {
		return fmt.Errorf("remove stale host addresses: %w", err)
	}
	for key := range want {
		if err := m.Update(key, uint8(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("add host address: %w", err)
		}
	}
	return nil
}
