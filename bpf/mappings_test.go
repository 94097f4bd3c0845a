package bpf

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/ports"
)

// Mappings reads a group's mappings back from the kernel (the tests'
// view of the port maps).
func (k *Kernel) Mappings(id uint64) ([]ports.Mapping, error) {
	toHost, err := k.bpfMap(mapVirtualToHost)
	if err != nil {
		return nil, err
	}
	var out []ports.Mapping
	var key portmapPortKey
	var host uint16
	it := toHost.Iterate()
	for it.Next(&key, &host) {
		if key.GroupId != id {
			continue
		}
		proto := "tcp"
		if key.Proto == unix.IPPROTO_UDP {
			proto = "udp"
		}
		out = append(out, ports.Mapping{Proto: proto, Port: key.Port, HostPort: host})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", mapVirtualToHost, err)
	}
	return out, nil
}
