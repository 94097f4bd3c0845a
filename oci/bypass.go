package oci

import (
	"fmt"
	"strings"
)

// ParseBypass reads io.sockshim.bypass: true or false, in any case, with
// surrounding spaces ignored.
func ParseBypass(value string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("invalid value %q: want true or false", value)
}
