package bpf

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/cilium/ebpf"
)

// syncHostAddrs makes the host_addrs map hold this host's current
// non-loopback addresses, so the programs can tell a local peer from a remote
// one.
//
// The map holds at most 1,024. Every interface with IPv6 has a link-local
// address, and a bridge network gives each of its containers a veth on the
// host: beside 1,000 of them the map would be full and every set-up would
// fail. So link-local addresses come last: they fill what room the others
// leave, those already in the map first, and the ones left out are not
// local to the programs (no bypass, no port translation to them). More
// other addresses than the map holds is an error.
func (k *Kernel) syncHostAddrs() error {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("list host addresses: %w", err)
	}
	m, err := k.bpfMap(mapHostAddrs)
	if err != nil {
		return err
	}
	present := map[[16]byte]bool{}
	if err := forEach(m, func(key [16]byte, _ uint8) { present[key] = true }); err != nil {
		return fmt.Errorf("read %s: %w", mapHostAddrs, err)
	}
	want, err := hostAddrsToHold(ifAddrs, present, int(m.MaxEntries()))
	if err != nil {
		return err
	}
	var stale [][16]byte
	for key := range present {
		if !want[key] {
			stale = append(stale, key)
		}
	}
	// Stale ones first, to make room.
	if err := deleteKeys(m, stale); err != nil {
		return fmt.Errorf("remove stale host addresses: %w", err)
	}
	for key := range want {
		if present[key] {
			continue
		}
		if err := m.Update(key, uint8(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("add host address: %w", err)
		}
	}
	return nil
}

// hostAddrsToHold picks at most limit of the interface addresses addrs, in
// the programs' form (IPv4 as IPv4-mapped IPv6): every address but loopback
// and IPv6 link-local ones, then link-local ones while there is room, those
// present already first.
func hostAddrsToHold(addrs []net.Addr, present map[[16]byte]bool, limit int) (map[[16]byte]bool, error) {
	want := map[[16]byte]bool{}
	var linkLocal [][16]byte
	for _, a := range addrs {
		prefix, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		addr := prefix.Addr().Unmap()
		switch {
		case addr.IsLoopback():
		case addr.Is6() && addr.IsLinkLocalUnicast():
			linkLocal = append(linkLocal, addr.As16())
		default:
			want[addr.As16()] = true
		}
	}
	if len(want) > limit {
		return nil, fmt.Errorf("this host has %d addresses besides loopback and IPv6 link-local ones; sockshim's %s map holds at most %d", len(want), mapHostAddrs, limit)
	}
	slices.SortFunc(linkLocal, func(a, b [16]byte) int {
		if present[a] != present[b] {
			if present[a] {
				return -1
			}
			return 1
		}
		return bytes.Compare(a[:], b[:])
	})
	for _, a := range linkLocal {
		if len(want) == limit {
			break
		}
		want[a] = true
	}
	return want, nil
}
