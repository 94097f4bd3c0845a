package oci

import (
	"reflect"
	"testing"
)

func TestParseBypass(t *testing.T) {
	for in, want := range map[string]Bypass{
		"true": {On: true}, "TRUE": {On: true}, "True": {On: true}, " true\t": {On: true},
		"false": {}, "FALSE": {}, " false ": {},
		"3000":               {On: true, Ports: []uint16{3000}},
		"3000, 8080/tcp":     {On: true, Ports: []uint16{3000, 8080}},
		"4000-4002":          {On: true, Ports: []uint16{4000, 4001, 4002}},
		"6379,4000-4001/TCP": {On: true, Ports: []uint16{6379, 4000, 4001}},
	} {
		if got, err := ParseBypass(in); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseBypass(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"":           `invalid value "": want true, false or a list of ports`,
		"yes":        `invalid value "yes": want true, false or a list of ports`,
		"true,false": `invalid item "true": not a port number`,
		"0":          `invalid item "0": port 0 is not allowed (ports are 1-65535)`,
		"80000":      `invalid item "80000": port 80000 is over 65535`,
		"3000,":      `invalid item "": empty item`,
		"3000-2000":  `invalid item "3000-2000": reversed range (low port above high port)`,
		"1-1025":     `invalid item "1-1025": range of 1025 ports; at most 1024`,
		"3000,3000":  `invalid item "3000": port 3000 is listed twice`,
		"3000/udp":   `invalid item "3000/udp": the bypass is for TCP only`,
		"18080:3000": `invalid item "18080:3000": a bypass port has no host port: list the container's port`,
		"abc,3000":   `invalid item "abc": not a port number`,
	} {
		_, err := ParseBypass(in)
		if err == nil || err.Error() != msg {
			t.Errorf("ParseBypass(%q): error %v, want %q", in, err, msg)
		}
	}
}
