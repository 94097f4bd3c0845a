package oci

import (
	"fmt"
	"strings"
)

// Bypass is what io.sockshim.bypass asks for: the loopback bypass on or off
// and, when Ports is not empty, scoped to the connections accepted by the
// container's listeners on those ports (plus its own outgoing ones).
type Bypass struct {
	On    bool
	Ports []uint16
}

// ParseBypass reads io.sockshim.bypass: true or false, in any case, with
// surrounding spaces ignored, or a list of TCP ports written as for
// io.sockshim.ports (PORT or LOW-HIGH, optionally /tcp), which turns the
// bypass on for those ports. Its errors name the offending item.
func ParseBypass(value string) (Bypass, error) {
	switch v := strings.ToLower(strings.TrimSpace(value)); {
	case v == "true":
		return Bypass{On: true}, nil
	case v == "false":
		return Bypass{}, nil
	case !strings.ContainsAny(v, "0123456789,"):
		return Bypass{}, fmt.Errorf("invalid value %q: want true, false or a list of ports", value)
	}
	specs, err := ParsePorts(value)
	if err != nil {
		return Bypass{}, err
	}
	b := Bypass{On: true, Ports: make([]uint16, 0, len(specs))}
	for _, s := range specs {
		item := s.String()
		switch {
		case s.HostPort != 0:
			return Bypass{}, &PortError{item, "a bypass port has no host port: list the container's port"}
		case s.Proto != "tcp":
			return Bypass{}, &PortError{item, "the bypass is for TCP only"}
		}
		b.Ports = append(b.Ports, s.Port)
	}
	return b, nil
}
