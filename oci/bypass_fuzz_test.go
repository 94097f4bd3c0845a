package oci

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseBypass: never a panic; true and false are the only words; any
// other value is a port list whose error, when it does not parse, names one
// of its items, and whose ports are TCP container ports listed once.
func FuzzParseBypass(f *testing.F) {
	for _, s := range []string{"true", "FALSE", " true ", "3000", "3000,8080", "4000-4010/tcp", "3000/udp",
		"18080:3000", "yes", "", ",", "0", "80000", "1-1025", "3000,3000", "true,3000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		b, err := ParseBypass(value)
		if err != nil {
			var pe *PortError
			if errors.As(err, &pe) {
				if !strings.Contains(value, pe.Item) {
					t.Fatalf("%q: error names item %q, which is not in the value", value, pe.Item)
				}
			}
			return
		}
		word := strings.ToLower(strings.TrimSpace(value))
		if word == "true" || word == "false" {
			if b.On != (word == "true") || len(b.Ports) != 0 {
				t.Fatalf("%q gave %+v", value, b)
			}
			return
		}
		if !b.On || len(b.Ports) == 0 {
			t.Fatalf("%q parsed as a port list gave %+v", value, b)
		}
		seen := map[uint16]bool{}
		for _, p := range b.Ports {
			if p == 0 || seen[p] {
				t.Fatalf("%q gave port %d (zero or twice): %+v", value, p, b)
			}
			seen[p] = true
		}
	})
}
