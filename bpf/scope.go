package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/sockshim/sockshim/internal/ports"
)

// scopeHostPorts turns the virtual ports a bypass is scoped to into the ports
// the group's listeners are really bound to: a remapped TCP port's host port,
// any other port itself.
func scopeHostPorts(ports []uint16, mappings []ports.Mapping) []uint16 {
	host := map[uint16]uint16{}
	for _, m := range mappings {
		if m.Proto == "tcp" {
			host[m.Port] = m.HostPort
		}
	}
	out := make([]uint16, 0, len(ports))
	for _, p := range ports {
		if h, ok := host[p]; ok {
			p = h
		}
		out = append(out, p)
	}
	return out
}

// addScope lists a group's bypass ports for its listeners (c/scope.h).
func (k *Kernel) addScope(id uint64, ports []uint16) error {
	m, err := k.bpfMap(mapScope)
	if err != nil {
		return err
	}
	for _, p := range ports {
		if err := m.Update(bypassScopeKey{GroupId: id, Port: uint32(p)}, uint8(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("scope the bypass to port %d: %w", p, err)
		}
	}
	return nil
}

// removeScope deletes a group's bypass ports.
func (k *Kernel) removeScope(id uint64) error {
	m, err := k.bpfMap(mapScope)
	if err != nil {
		return err
	}
	if err := deleteWhere(m, func(key bypassScopeKey, _ uint8) bool { return key.GroupId == id }); err != nil {
		return fmt.Errorf("remove the bypass ports of group %d: %w", id, err)
	}
	return nil
}
