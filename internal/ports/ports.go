// Package ports holds a group's virtual port and the host port behind it:
// what an annotation asks for (oci parses it), what the core allocates, what
// the kernel maps (bpf) and what a record keeps (records).
package ports

import "fmt"

// Mapping is one virtual port of a group and the host port that backs it.
// As asked for, HostPort 0 means "allocate one from the pool"; once the
// group is set up, every mapping has its host port.
type Mapping struct {
	Proto    string `json:"proto"`     // "tcp" or "udp"
	Port     uint16 `json:"port"`      // what the group sees
	HostPort uint16 `json:"host_port"` // what the host has
}

// String gives the canonical annotation item: 3000/tcp, 18080:3000/udp.
func (m Mapping) String() string {
	if m.HostPort != 0 {
		return fmt.Sprintf("%d:%d/%s", m.HostPort, m.Port, m.Proto)
	}
	return fmt.Sprintf("%d/%s", m.Port, m.Proto)
}
