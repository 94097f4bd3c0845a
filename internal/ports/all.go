package ports

// All names the protocols whose whole port space a group has
// (io.sockshim.ports=all, all/tcp, all/udp): every bind() of a nonzero port
// gets a host port from the pool when it happens, kept for the group's life.
type All struct {
	TCP bool `json:"tcp,omitempty"`
	UDP bool `json:"udp,omitempty"`
}

// Any reports whether the group has the whole port space of a protocol.
func (a All) Any() bool { return a.TCP || a.UDP }

// Has reports whether the group has the whole port space of proto ("tcp" or
// "udp").
func (a All) Has(proto string) bool {
	return proto == "tcp" && a.TCP || proto == "udp" && a.UDP
}

// Items gives the canonical annotation items: all/tcp, all/udp (both when
// both), nothing when none.
func (a All) Items() []string {
	var out []string
	if a.TCP {
		out = append(out, "all/tcp")
	}
	if a.UDP {
		out = append(out, "all/udp")
	}
	return out
}

// String is "all" for both protocols, else the one item, or "".
func (a All) String() string {
	if a.TCP && a.UDP {
		return "all"
	}
	if items := a.Items(); len(items) == 1 {
		return items[0]
	}
	return ""
}
