// Package oci reads what container runtimes give a hook (the OCI state,
// the bundle's config.json), parses sockshim's annotations, and writes the
// hooks.d file and bundle hooks that make runtimes run sockshim.
package oci

import (
	"fmt"

	"github.com/sockshim/sockshim/internal/ports"
)

// The annotations sockshim reads.
const (
	AnnotationPorts  = "io.sockshim.ports"
	AnnotationBypass = "io.sockshim.bypass"
)

// AnnotationError prefixes err with the annotation it is about, giving the
// one line the hook prints: io.sockshim.ports: invalid item "abc": ...
func AnnotationError(key string, err error) error {
	return fmt.Errorf("%s: %w", key, err)
}

// Settings are what a container's sockshim annotations ask for.
type Settings struct {
	Ports []ports.Mapping
	// All: the protocols whose every port the group gets a host port for
	// when it binds it (io.sockshim.ports=all).
	All    ports.All
	Bypass bool
	// BypassPorts scope the bypass to these container ports (see Bypass).
	BypassPorts []uint16
}

// Wanted reports whether the settings ask for anything at all.
func (s Settings) Wanted() bool { return len(s.Ports) > 0 || s.All.Any() || s.Bypass }

// ParseSettings reads both annotations through lookup (a map for the OCI
// hook, NRI's effective pod annotations for the plugin). found is false when
// neither annotation is present. Errors name the annotation and the item.
func ParseSettings(lookup func(key string) (string, bool)) (s Settings, found bool, err error) {
	ports, hasPorts := lookup(AnnotationPorts)
	bypass, hasBypass := lookup(AnnotationBypass)
	if hasPorts {
		if s.Ports, s.All, err = ParsePorts(ports); err != nil {
			return Settings{}, true, AnnotationError(AnnotationPorts, err)
		}
	}
	if hasBypass {
		b, err := ParseBypass(bypass)
		if err != nil {
			return Settings{}, true, AnnotationError(AnnotationBypass, err)
		}
		s.Bypass, s.BypassPorts = b.On, b.Ports
	}
	return s, hasPorts || hasBypass, nil
}
