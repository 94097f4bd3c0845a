package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// The host ports groups hold, in host_port_holders (c/host_ports.h): the
// one claim that userspace and the bind programs of `all` groups both make,
// atomically, so no two groups hold one port.

// ClaimHostPort claims a host port for group id. It returns the holder
// (id itself when the claim is made or was made before, another group's id
// when that group holds the port).
func (k *Kernel) ClaimHostPort(proto string, port uint16, id uint64) (holder uint64, err error) {
	m, err := k.bpfMap(mapHolders)
	if err != nil {
		return 0, err
	}
	p, err := protoNumber(proto)
	if err != nil {
		return 0, err
	}
	key := portmapHostPort{Port: port, Proto: p}
	for range 2 {
		err := m.Update(key, id, ebpf.UpdateNoExist)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, ebpf.ErrKeyExist) {
			return 0, fmt.Errorf("claim host port %d/%s: %w", port, proto, err)
		}
		// Held: by whom? (Released in between: claim again.)
		if err := m.Lookup(key, &holder); err == nil {
			return holder, nil
		} else if !errors.Is(err, ebpf.ErrKeyNotExist) {
			return 0, fmt.Errorf("read the holder of host port %d/%s: %w", port, proto, err)
		}
	}
	return 0, fmt.Errorf("claim host port %d/%s: it is taken and released over and over", port, proto)
}

// ReleaseHostPort gives one host port of group id back (a claim that came
// to nothing). A port another group holds is left alone.
func (k *Kernel) ReleaseHostPort(proto string, port uint16, id uint64) error {
	m, err := k.bpfMap(mapHolders)
	if err != nil {
		return err
	}
	p, err := protoNumber(proto)
	if err != nil {
		return err
	}
	key := portmapHostPort{Port: port, Proto: p}
	var holder uint64
	if err := m.Lookup(key, &holder); err != nil || holder != id {
		return nil
	}
	if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("release host port %d/%s: %w", port, proto, err)
	}
	return nil
}

// ReleaseHostPorts gives every host port of group id back to the pool.
func (k *Kernel) ReleaseHostPorts(id uint64) error {
	m, err := k.bpfMap(mapHolders)
	if err != nil {
		return err
	}
	if err := deleteWhere(m, func(_ portmapHostPort, holder uint64) bool { return holder == id }); err != nil {
		return fmt.Errorf("release the host ports of group %d: %w", id, err)
	}
	return nil
}

// RemovePortsExcept releases the host ports and removes the mappings of
// every group whose id is not in live (sockshim gc).
func (k *Kernel) RemovePortsExcept(live map[uint64]bool) error {
	m, err := k.bpfMap(mapHolders)
	if err != nil {
		return err
	}
	if err := deleteWhere(m, func(_ portmapHostPort, holder uint64) bool { return !live[holder] }); err != nil {
		return fmt.Errorf("release the host ports of groups that are gone: %w", err)
	}
	for _, name := range []string{mapVirtualToHost, mapHostToVirtual} {
		m, err := k.bpfMap(name)
		if err != nil {
			return err
		}
		if err := deleteWhere(m, func(key portmapPortKey, _ uint16) bool { return !live[key.GroupId] }); err != nil {
			return fmt.Errorf("remove the mappings of groups that are gone from %s: %w", name, err)
		}
	}
	return nil
}

// Holders lists every held host port with its group's id.
func (k *Kernel) Holders() (map[HostPort]uint64, error) {
	m, err := k.bpfMap(mapHolders)
	if err != nil {
		return nil, err
	}
	out := map[HostPort]uint64{}
	if err := forEach(m, func(key portmapHostPort, holder uint64) {
		out[HostPort{Proto: protoName(key.Proto), Port: key.Port}] = holder
	}); err != nil {
		return nil, fmt.Errorf("read %s: %w", mapHolders, err)
	}
	return out, nil
}

// HostPort is a host port of one protocol.
type HostPort struct {
	Proto string
	Port  uint16
}
