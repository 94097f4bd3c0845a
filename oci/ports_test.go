package oci

import (
	"errors"
	"reflect"
	"testing"
)

func TestParsePortsValid(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []PortSpec
	}{
		{"3000", []PortSpec{{"tcp", 3000, 0}}},
		{"3000/udp", []PortSpec{{"udp", 3000, 0}}},
		{"3000/TCP", []PortSpec{{"tcp", 3000, 0}}},
		{"18080:3000", []PortSpec{{"tcp", 3000, 18080}}},
		{"18080:3000/udp", []PortSpec{{"udp", 3000, 18080}}},
		{"4000-4002", []PortSpec{{"tcp", 4000, 0}, {"tcp", 4001, 0}, {"tcp", 4002, 0}}},
		{"3000/tcp,3000/udp", []PortSpec{{"tcp", 3000, 0}, {"udp", 3000, 0}}},
		{" 80 , 443 ", []PortSpec{{"tcp", 80, 0}, {"tcp", 443, 0}}},
		{"65535", []PortSpec{{"tcp", 65535, 0}}},
		{"1-1024", nil}, // exactly MaxRange: checked by length below
	} {
		got, err := ParsePorts(c.in)
		if err != nil {
			t.Errorf("ParsePorts(%q): %v", c.in, err)
			continue
		}
		if c.want == nil {
			if len(got) != MaxRange {
				t.Errorf("ParsePorts(%q): %d ports, want %d", c.in, len(got), MaxRange)
			}
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParsePorts(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestParsePortsErrorsNameTheItem(t *testing.T) {
	for _, c := range []struct{ in, item string }{
		{"0", "0"},
		{"80000", "80000"},
		{"abc", "abc"},
		{"-1", "-1"},
		{"+5", "+5"},
		{"3000.5", "3000.5"},
		{"3000x", "3000x"},
		{"", ""},
		{"3000,,4000", ""},
		{"3000,", ""},
		{"3000-2000", "3000-2000"},
		{"1-1025", "1-1025"},
		{"18080:3000,18080:4000", "18080:4000"},
		{"3000,3000", "3000"},
		{"3000-3005,3004", "3004"},
		{"3000/sctp", "3000/sctp"},
		{"18080:3000-3001", "18080:3000-3001"},
		{"0:3000", "0:3000"},
		{":3000", ":3000"},
		{"3000/", "3000/"},
	} {
		_, err := ParsePorts(c.in)
		var pe *PortError
		if !errors.As(err, &pe) {
			t.Errorf("ParsePorts(%q): %v, want a *PortError", c.in, err)
			continue
		}
		if pe.Item != c.item {
			t.Errorf("ParsePorts(%q) names item %q, want %q (%v)", c.in, pe.Item, c.item, err)
		}
	}
}

func TestAnnotationErrorLine(t *testing.T) {
	_, err := ParsePorts("abc")
	got := AnnotationError(AnnotationPorts, err).Error()
	want := `io.sockshim.ports: invalid item "abc": "abc" is not a port number`
	if got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}

func TestParseBypass(t *testing.T) {
	for in, want := range map[string]bool{"true": true, "TRUE": true, " false ": false} {
		if got, err := ParseBypass(in); err != nil || got != want {
			t.Errorf("ParseBypass(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "yes", "1"} {
		if _, err := ParseBypass(in); err == nil {
			t.Errorf("ParseBypass(%q) accepted", in)
		}
	}
}
