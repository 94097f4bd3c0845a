package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/ports"
)

func protoNumber(proto string) (uint8, error) {
	switch proto {
	case "tcp":
		return unix.IPPROTO_TCP, nil
	case "udp":
		return unix.IPPROTO_UDP, nil
	}
	return 0, fmt.Errorf("unknown protocol %q", proto)
}

func protoName(n uint8) string {
	if n == unix.IPPROTO_UDP {
		return "udp"
	}
	return "tcp"
}

func validateMappings(ms []ports.Mapping) error {
	seenPort := map[portmapPortKey]bool{}
	seenHost := map[portmapPortKey]bool{}
	for _, m := range ms {
		proto, err := protoNumber(m.Proto)
		if err != nil {
			return err
		}
		if m.Port == 0 || m.HostPort == 0 {
			return fmt.Errorf("mapping %d->%d/%s: ports must be 1-65535", m.HostPort, m.Port, m.Proto)
		}
		pk := portmapPortKey{Port: m.Port, Proto: proto}
		hk := portmapPortKey{Port: m.HostPort, Proto: proto}
		if seenPort[pk] {
			return fmt.Errorf("port %d/%s is mapped twice", m.Port, m.Proto)
		}
		if seenHost[hk] {
			return fmt.Errorf("host port %d/%s is used twice", m.HostPort, m.Proto)
		}
		seenPort[pk], seenHost[hk] = true, true
	}
	return nil
}

// portMaps returns the two mapping maps: virtual_to_host and
// host_to_virtual.
func (k *Kernel) portMaps() (toHost, toVirtual *ebpf.Map, err error) {
	if toHost, err = k.bpfMap(mapVirtualToHost); err != nil {
		return nil, nil, err
	}
	if toVirtual, err = k.bpfMap(mapHostToVirtual); err != nil {
		return nil, nil, err
	}
	return toHost, toVirtual, nil
}

// mappingKeys are mapping m's keys in virtual_to_host (v) and
// host_to_virtual (h) for group id.
func mappingKeys(id uint64, m ports.Mapping) (v, h portmapPortKey, err error) {
	proto, err := protoNumber(m.Proto)
	if err != nil {
		return v, h, err
	}
	return portmapPortKey{GroupId: id, Port: m.Port, Proto: proto}, portmapPortKey{GroupId: id, Port: m.HostPort, Proto: proto}, nil
}

// addMappings claims a group's host ports (claims it made already stand)
// and writes its mappings both ways.
func (k *Kernel) addMappings(id uint64, ms []ports.Mapping) error {
	toHost, toVirtual, err := k.portMaps()
	if err != nil {
		return err
	}
	for _, m := range ms {
		holder, err := k.ClaimHostPort(m.Proto, m.HostPort, id)
		if err != nil {
			return err
		}
		if holder != id {
			return fmt.Errorf("host port %d/%s is held by another group (cgroup id %d)", m.HostPort, m.Proto, holder)
		}
		v, h, err := mappingKeys(id, m)
		if err != nil {
			return err
		}
		if err := toHost.Update(v, m.HostPort, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("map port %d/%s: %w", m.Port, m.Proto, err)
		}
		if err := toVirtual.Update(h, m.Port, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("map host port %d/%s: %w", m.HostPort, m.Proto, err)
		}
	}
	return nil
}

// removeListedMappings deletes the mappings ms of group id, by key, and
// gives their host ports back.
func (k *Kernel) removeListedMappings(id uint64, ms []ports.Mapping) error {
	toHost, toVirtual, err := k.portMaps()
	if err != nil {
		return err
	}
	for _, m := range ms {
		v, h, err := mappingKeys(id, m)
		if err != nil {
			return err
		}
		if err := toHost.Delete(v); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("remove the mapping of port %d/%s of group %d: %w", m.Port, m.Proto, id, err)
		}
		if err := toVirtual.Delete(h); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("remove the mapping of host port %d/%s of group %d: %w", m.HostPort, m.Proto, id, err)
		}
		if err := k.ReleaseHostPort(m.Proto, m.HostPort, id); err != nil {
			return err
		}
	}
	return nil
}

// removeMappings deletes every mapping of a group id, found by scanning.
func (k *Kernel) removeMappings(id uint64) error {
	for _, name := range []string{mapVirtualToHost, mapHostToVirtual} {
		m, err := k.bpfMap(name)
		if err != nil {
			return err
		}
		if err := deleteWhere(m, func(key portmapPortKey, _ uint16) bool { return key.GroupId == id }); err != nil {
			return fmt.Errorf("remove the mappings of group %d from %s: %w", id, name, err)
		}
	}
	return nil
}
