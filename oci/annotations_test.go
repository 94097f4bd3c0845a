package oci

import (
	"errors"
	"reflect"
	"testing"

	"github.com/sockshim/sockshim/internal/ports"
)

func TestAnnotationErrorLine(t *testing.T) {
	_, _, err := ParsePorts("abc")
	line := AnnotationError(AnnotationPorts, err)
	if got, want := line.Error(), `io.sockshim.ports: invalid item "abc": not a port number`; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	var pe *PortError
	if !errors.As(line, &pe) || pe.Item != "abc" {
		t.Fatalf("errors.As(%v) = %+v, want the *PortError for \"abc\"", line, pe)
	}
}

func lookupIn(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseSettings(t *testing.T) {
	s, found, err := ParseSettings(lookupIn(nil))
	if err != nil || found || s.Wanted() {
		t.Fatalf("no annotations: %+v, %v, %v", s, found, err)
	}

	s, found, err = ParseSettings(lookupIn(map[string]string{
		AnnotationPorts: "18080:3000/udp", AnnotationBypass: "true",
	}))
	want := Settings{Ports: []ports.Mapping{{Proto: "udp", Port: 3000, HostPort: 18080}}, Bypass: true}
	if err != nil || !found || !reflect.DeepEqual(s, want) {
		t.Fatalf("both annotations: %+v, %v, %v; want %+v", s, found, err, want)
	}

	s, found, err = ParseSettings(lookupIn(map[string]string{AnnotationPorts: "all/udp"}))
	want = Settings{All: ports.All{UDP: true}}
	if err != nil || !found || !reflect.DeepEqual(s, want) || !s.Wanted() {
		t.Fatalf("ports=all/udp: %+v, %v, %v; want %+v", s, found, err, want)
	}

	s, found, err = ParseSettings(lookupIn(map[string]string{AnnotationBypass: "false"}))
	if err != nil || !found || s.Wanted() {
		t.Fatalf("bypass=false: %+v, %v, %v", s, found, err)
	}

	for _, c := range []struct{ key, value, line string }{
		{AnnotationPorts, "3000-2000", `io.sockshim.ports: invalid item "3000-2000": reversed range (low port above high port)`},
		{AnnotationPorts, "", `io.sockshim.ports: invalid item "": empty item`},
		{AnnotationBypass, "yes", `io.sockshim.bypass: invalid value "yes": want true, false or a list of ports`},
		{AnnotationBypass, "3000/udp", `io.sockshim.bypass: invalid item "3000/udp": the bypass is for TCP only`},
	} {
		_, found, err := ParseSettings(lookupIn(map[string]string{c.key: c.value}))
		if !found || err == nil || err.Error() != c.line {
			t.Errorf("%s=%q: found %v, error %v; want %q", c.key, c.value, found, err, c.line)
		}
	}
}
