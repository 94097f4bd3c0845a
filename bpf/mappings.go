package bpf

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/sockshim/sockshim/internal/ports"
)

// Mappings reads a group's mappings back from the kernel, sorted by
// protocol and port: for an `all` group also those its bind programs made,
// which only the kernel knows (sockshim ls and port, and the tests).
func (k *Kernel) Mappings(id uint64) ([]ports.Mapping, error) {
	toHost, err := k.bpfMap(mapVirtualToHost)
	if err != nil {
		return nil, err
	}
	var out []ports.Mapping
	if err := forEach(toHost, func(key portmapPortKey, host uint16) {
		if key.GroupId == id {
			out = append(out, ports.Mapping{Proto: protoName(key.Proto), Port: key.Port, HostPort: host})
		}
	}); err != nil {
		return nil, fmt.Errorf("read %s: %w", mapVirtualToHost, err)
	}
	slices.SortFunc(out, func(a, b ports.Mapping) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})
	return out, nil
}
