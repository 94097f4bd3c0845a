// Package oci reads what container runtimes give a hook (the OCI state,
// the bundle's config.json), parses sockshim's annotations, and writes the
// hooks.d file and bundle hooks that make runtimes run sockshim.
package oci

import "fmt"

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
