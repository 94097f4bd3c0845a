package oci

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sockshim/sockshim/internal/ports"
)

// MaxRange is the largest number of ports one LOW-HIGH item may list.
const MaxRange = 1024

// PortError is a value of io.sockshim.ports (or --ports) that does not
// parse; Item is the offending item as written, minus surrounding spaces.
type PortError struct {
	Item   string
	Reason string
}

func (e *PortError) Error() string {
	return fmt.Sprintf("invalid item %q: %s", e.Item, e.Reason)
}

// protoPort is a port in one protocol's port space.
type protoPort struct {
	proto string
	port  uint16
}

// ParsePorts parses a comma-separated list of PORT, HOSTPORT:PORT or
// LOW-HIGH items, each optionally suffixed /tcp (default) or /udp, and the
// item all (both protocols), all/tcp or all/udp. A range gives one
// ports.Mapping per port, in order. tcp and udp are separate port spaces;
// within one, a container port, a fixed host port or all may be listed only
// once. all mixes with the other items: they keep the host ports they name
// (or get one from the pool when the group is set up), every other port of
// the protocol gets one when the group binds it.
func ParsePorts(value string) ([]ports.Mapping, ports.All, error) {
	var (
		out   []ports.Mapping
		all   ports.All
		seen  = map[protoPort]bool{}
		hosts = map[protoPort]bool{}
	)
	fail := func(err error) ([]ports.Mapping, ports.All, error) { return nil, ports.All{}, err }
	for _, raw := range strings.Split(value, ",") {
		item := strings.TrimSpace(raw)
		if a, ok, err := parseAll(item); err != nil {
			return fail(err)
		} else if ok {
			if a.TCP && all.TCP {
				return fail(&PortError{item, "all/tcp is listed twice"})
			}
			if a.UDP && all.UDP {
				return fail(&PortError{item, "all/udp is listed twice"})
			}
			all.TCP, all.UDP = all.TCP || a.TCP, all.UDP || a.UDP
			continue
		}
		specs, err := parseItem(item)
		if err != nil {
			return fail(err)
		}
		for _, s := range specs {
			p := protoPort{s.Proto, s.Port}
			if seen[p] {
				return fail(&PortError{item, fmt.Sprintf("port %d/%s is listed twice", s.Port, s.Proto)})
			}
			seen[p] = true
			if s.HostPort != 0 {
				h := protoPort{s.Proto, s.HostPort}
				if hosts[h] {
					return fail(&PortError{item, fmt.Sprintf("host port %d/%s is listed twice", s.HostPort, s.Proto)})
				}
				hosts[h] = true
			}
			out = append(out, s)
		}
	}
	return out, all, nil
}

// parseAll reads the item all, all/tcp or all/udp (ok true), in any case as
// protocols are. A body of all with another protocol is an error; anything
// else is not an all item.
func parseAll(item string) (a ports.All, ok bool, err error) {
	body, proto, hasProto := strings.Cut(item, "/")
	if !strings.EqualFold(body, "all") {
		return a, false, nil
	}
	switch p := strings.ToLower(proto); {
	case !hasProto:
		a.TCP, a.UDP = true, true
	case p == "tcp":
		a.TCP = true
	case p == "udp":
		a.UDP = true
	default:
		return a, false, &PortError{item, fmt.Sprintf("unknown protocol %q (want tcp or udp)", proto)}
	}
	return a, true, nil
}

// parseItem parses one trimmed item: PORT, HOSTPORT:PORT or LOW-HIGH, with
// an optional /tcp or /udp.
func parseItem(item string) ([]ports.Mapping, error) {
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
		return []ports.Mapping{{Proto: proto, Port: p, HostPort: h}}, nil
	}
	// A leading '-' is a sign, not a range: "-1" is not a port number.
	if low, high, ok := strings.Cut(body, "-"); ok && low != "" {
		return parseRange(item, proto, low, high)
	}
	p, err := parsePort(item, body)
	if err != nil {
		return nil, err
	}
	return []ports.Mapping{{Proto: proto, Port: p}}, nil
}

// parseRange expands LOW-HIGH, at most MaxRange ports.
func parseRange(item, proto, low, high string) ([]ports.Mapping, error) {
	l, err := parsePort(item, low)
	if err != nil {
		return nil, err
	}
	h, err := parsePort(item, high)
	if err != nil {
		return nil, err
	}
	if h < l {
		return nil, &PortError{item, "reversed range (low port above high port)"}
	}
	n := int(h) - int(l) + 1
	if n > MaxRange {
		return nil, &PortError{item, fmt.Sprintf("range of %d ports; at most %d", n, MaxRange)}
	}
	out := make([]ports.Mapping, 0, n)
	for p := int(l); p <= int(h); p++ {
		out = append(out, ports.Mapping{Proto: proto, Port: uint16(p)})
	}
	return out, nil
}

// parsePort reads s, a part of item, as a decimal port 1-65535: digits
// only, no sign, space or fraction.
func parsePort(item, s string) (uint16, error) {
	if s == "" {
		return 0, &PortError{item, "missing port number"}
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			if s == item {
				return 0, &PortError{item, "not a port number"}
			}
			return 0, &PortError{item, fmt.Sprintf("%q is not a port number", s)}
		}
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, &PortError{item, fmt.Sprintf("port %s is over 65535", s)}
	}
	if n == 0 {
		return 0, &PortError{item, "port 0 is not allowed (ports are 1-65535)"}
	}
	return uint16(n), nil
}
