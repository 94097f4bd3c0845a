package oci

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// FuzzParsePorts: never a panic; whatever parses is well formed and
// round-trips through its canonical form. Seeds live in
// testdata/fuzz/FuzzParsePorts too.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"3000", "18080:3000/udp", "4000-4010", "3000/tcp,3000/udp", "abc", "0", "80000", "3000-2000", ",", "1-1025"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		specs, err := ParsePorts(value)
		if err != nil {
			if !strings.Contains(err.Error(), "invalid item") {
				t.Fatalf("error %q does not name an item", err)
			}
			return
		}
		ports, hosts := map[string]bool{}, map[string]bool{}
		var items []string
		for _, s := range specs {
			if s.Port == 0 || (s.Proto != "tcp" && s.Proto != "udp") {
				t.Fatalf("%q gave a malformed spec %+v", value, s)
			}
			k := fmt.Sprint(s.Proto, s.Port)
			if ports[k] {
				t.Fatalf("%q gave port %s twice", value, k)
			}
			ports[k] = true
			if s.HostPort != 0 {
				h := fmt.Sprint(s.Proto, s.HostPort)
				if hosts[h] {
					t.Fatalf("%q gave host port %s twice", value, h)
				}
				hosts[h] = true
			}
			items = append(items, s.String())
		}
		again, err := ParsePorts(strings.Join(items, ","))
		if err != nil || !reflect.DeepEqual(again, specs) {
			t.Fatalf("%q: canonical form %q parses to %v, %v", value, strings.Join(items, ","), again, err)
		}
	})
}
