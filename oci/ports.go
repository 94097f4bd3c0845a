package oci

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxRange is the largest number of ports one LOW-HIGH item may list.
const MaxRange = 1024

// PortSpec is one virtual port of a container and, when fixed, its host port.
type PortSpec struct {
	Proto    string // "tcp" or "udp"
	Port     uint16 // the container's (virtual) port
	HostPort uint16 // fixed host port; 0: allocate one from the pool
}

// String gives the canonical item form: 3000/tcp, 18080:3000/udp.
func (p PortSpec) String() string {
	if p.HostPort != 0 {
		return fmt.Sprintf("%d:%d/%s", p.HostPort, p.Port, p.Proto)
	}
	return fmt.Sprintf("%d/%s", p.Port, p.Proto)
}

// PortError is a value of io.sockshim.ports (or --ports) that does not
// parse; it names the offending item.
type PortError struct {
	Item   string
	Reason string
}

func (e *PortError) Error() string {
	return fmt.Sprintf("invalid item %q: %s", e.Item, e.Reason)
}

// ParsePorts parses a comma-separated list of PORT, HOSTPORT:PORT or
// LOW-HIGH items, each optionally suffixed /tcp (default) or /udp. A range
// gives one PortSpec per port, in order.
func ParsePorts(value string) ([]PortSpec, error) {
	var out []PortSpec
	seenPort := map[string]bool{}
	seenHost := map[string]bool{}
	for _, raw := range strings.Split(value, ",") {
		item := strings.TrimSpace(raw)
		specs, err := parseItem(item)
		if err != nil {
			return nil, err
		}
		for _, s := range specs {
			k := fmt.Sprintf("%d/%s", s.Port, s.Proto)
			if seenPort[k] {
				return nil, &PortError{item, fmt.Sprintf("port %s is listed twice", k)}
			}
			seenPort[k] = true
			if s.HostPort != 0 {
				h := fmt.Sprintf("%d/%s", s.HostPort, s.Proto)
				if seenHost[h] {
					return nil, &PortError{item, fmt.Sprintf("host port %s is listed twice", h)}
				}
				seenHost[h] = true
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func parseItem(item string) ([]PortSpec, error) {
	if item == "" {
		return nil, &PortError{item, "empty item"}
	}
	body, proto := item, "tcp"
	if i := strings.LastIndexByte(item, '/'); i >= 0 {
		body, proto = item[:i], strings.ToLower(item[i+1:])
		if proto != "tcp" && proto != "udp" {
			return nil, &PortError{item, fmt.Sprintf("unknown protocol %q (want tcp or udp)", item[i+1:])}
		}
	}
	if host, port, ok := strings.Cut(body, ":"); ok {
		if strings.Contains(port, "-") {
			return nil, &PortError{item, "a fixed host port maps one port, not a range"}
		}
		h, err := parsePort(item, host)
		if err != nil {
			return nil, err
		}
		p, err := parsePort(item, port)
		if err != nil {
			return nil, err
		}
		return []PortSpec{{Proto: proto, Port: p, HostPort: h}}, nil
	}
	if lo, hi, ok := strings.Cut(body, "-"); ok && lo != "" {
		l, err := parsePort(item, lo)
		if err != nil {
			return nil, err
		}
		h, err := parsePort(item, hi)
		if err != nil {
			return nil, err
		}
		if h < l {
			return nil, &PortError{item, "reversed range"}
		}
		if int(h)-int(l)+1 > MaxRange {
			return nil, &PortError{item, fmt.Sprintf("range of %d ports; at most %d", int(h)-int(l)+1, MaxRange)}
		}
		var out []PortSpec
		for p := int(l); p <= int(h); p++ {
			out = append(out, PortSpec{Proto: proto, Port: uint16(p)})
		}
		return out, nil
	}
	p, err := parsePort(item, body)
	if err != nil {
		return nil, err
	}
	return []PortSpec{{Proto: proto, Port: p}}, nil
}

// parsePort reads a decimal port 1-65535: digits only, no sign or space.
func parsePort(item, s string) (uint16, error) {
	if s == "" {
		return 0, &PortError{item, "missing port number"}
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, &PortError{item, fmt.Sprintf("%q is not a port number", s)}
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > 65535 {
		return 0, &PortError{item, fmt.Sprintf("port %s is over 65535", s)}
	}
	if n == 0 {
		return 0, &PortError{item, "port 0 is not a port"}
	}
	return uint16(n), nil
}

// ParseBypass reads io.sockshim.bypass: true or false.
func ParseBypass(value string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("invalid value %q: want true or false", value)
}
