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
	b := Bypass{On: true}
	seen := map[uint16]bool{}
	for _, raw := range strings.Split(value, ",") {
		item := strings.TrimSpace(raw)
		specs, err := parseItem(item)
		if err != nil {
			return Bypass{}, err
		}
		for _, s := range specs {
			switch {
			case s.HostPort != 0:
				return Bypass{}, &PortError{item, "a bypass port has no host port: list the container's port"}
			case s.Proto != "tcp":
				return Bypass{}, &PortError{item, "the bypass is for TCP only"}
			case seen[s.Port]:
				return Bypass{}, &PortError{item, fmt.Sprintf("port %d is listed twice", s.Port)}
			}
			seen[s.Port] = true
			b.Ports = append(b.Ports, s.Port)
		}
	}
	return b, nil
}
