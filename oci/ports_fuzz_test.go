package oci

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParsePorts: never a panic; an error is a *PortError naming one of the
// value's items; whatever parses is well formed and round-trips through its
// canonical form (the mappings' items, then all/tcp and all/udp). More seeds
// live in testdata/fuzz/FuzzParsePorts.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{
		"3000", "18080:3000/udp", "4000-4010", "3000/tcp,3000/udp", " 80 , 443 ",
		"abc", "0", "80000", "-1", "+5", "3000.5", "", ",", "3000,,4000",
		"3000-2000", "1-1025", "1-1024", "18080:3000,18080:4000",
		"3000-3005,3004", "3000/sctp", "18080:3000-3001", "3000/UDP",
		"all", "all/tcp", "all/udp", "8080:80,all", "all,all", "ALL/Udp,all/tcp",
		"all/sctp", "all:80", "3000,all/udp",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		specs, all, err := ParsePorts(value)
		if err != nil {
			checkPortError(t, value, err)
			if all.Any() {
				t.Fatalf("%q: error %v with all %+v", value, err, all)
			}
			return
		}
		ports, hosts := map[protoPort]bool{}, map[protoPort]bool{}
		items := make([]string, 0, len(specs))
		for _, s := range specs {
			if s.Port == 0 || (s.Proto != "tcp" && s.Proto != "udp") {
				t.Fatalf("%q gave a malformed spec %+v", value, s)
			}
			p := protoPort{s.Proto, s.Port}
			if ports[p] {
				t.Fatalf("%q gave port %v twice", value, p)
			}
			ports[p] = true
			if s.HostPort != 0 {
				h := protoPort{s.Proto, s.HostPort}
				if hosts[h] {
					t.Fatalf("%q gave host port %v twice", value, h)
				}
				hosts[h] = true
			}
			items = append(items, s.String())
		}
		canonical := strings.Join(append(items, all.Items()...), ",")
		again, againAll, err := ParsePorts(canonical)
		if err != nil || !reflect.DeepEqual(again, specs) || againAll != all {
			t.Fatalf("%q: canonical form %q parses to %v, %+v, %v; want %v, %+v", value, canonical, again, againAll, err, specs, all)
		}
	})
}

// checkPortError fails t unless err is a *PortError whose Item is one of
// value's comma-separated items, trimmed.
func checkPortError(t *testing.T, value string, err error) {
	t.Helper()
	var pe *PortError
	if !errors.As(err, &pe) {
		t.Fatalf("%q: error %v is not a *PortError", value, err)
	}
	if pe.Reason == "" {
		t.Fatalf("%q: error %v gives no reason", value, err)
	}
	for _, raw := range strings.Split(value, ",") {
		if strings.TrimSpace(raw) == pe.Item {
			return
		}
	}
	t.Fatalf("%q: error %v names an item not in the value", value, err)
}
