package oci

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/internal/ports"
)

func tcpPorts(low, high uint16) []ports.Mapping {
	var out []ports.Mapping
	for p := int(low); p <= int(high); p++ {
		out = append(out, ports.Mapping{Proto: "tcp", Port: uint16(p), HostPort: 0})
	}
	return out
}

func TestParsePortsValid(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []ports.Mapping
	}{
		{"3000", []ports.Mapping{{Proto: "tcp", Port: 3000, HostPort: 0}}},
		{"3000/tcp", []ports.Mapping{{Proto: "tcp", Port: 3000, HostPort: 0}}},
		{"3000/udp", []ports.Mapping{{Proto: "udp", Port: 3000, HostPort: 0}}},
		{"3000/TCP", []ports.Mapping{{Proto: "tcp", Port: 3000, HostPort: 0}}},
		{"3000/UDP", []ports.Mapping{{Proto: "udp", Port: 3000, HostPort: 0}}},
		{"1", []ports.Mapping{{Proto: "tcp", Port: 1, HostPort: 0}}},
		{"65535", []ports.Mapping{{Proto: "tcp", Port: 65535, HostPort: 0}}},
		{"18080:3000", []ports.Mapping{{Proto: "tcp", Port: 3000, HostPort: 18080}}},
		{"18080:3000/tcp", []ports.Mapping{{Proto: "tcp", Port: 3000, HostPort: 18080}}},
		{"18080:3000/udp", []ports.Mapping{{Proto: "udp", Port: 3000, HostPort: 18080}}},
		{"65535:1", []ports.Mapping{{Proto: "tcp", Port: 1, HostPort: 65535}}},
		{"4000-4002", tcpPorts(4000, 4002)},
		{"4000-4001/udp", []ports.Mapping{{Proto: "udp", Port: 4000, HostPort: 0}, {Proto: "udp", Port: 4001, HostPort: 0}}},
		{"4000-4000", []ports.Mapping{{Proto: "tcp", Port: 4000, HostPort: 0}}},
		{"1-1024", tcpPorts(1, 1024)}, // exactly MaxRange ports
		{"64512-65535", tcpPorts(64512, 65535)},
		{"3000/tcp,3000/udp", []ports.Mapping{{Proto: "tcp", Port: 3000, HostPort: 0}, {Proto: "udp", Port: 3000, HostPort: 0}}},
		{"18080:3000/tcp,18080:3000/udp", []ports.Mapping{{Proto: "tcp", Port: 3000, HostPort: 18080}, {Proto: "udp", Port: 3000, HostPort: 18080}}},
		{"3000-3001,3000-3001/udp", []ports.Mapping{{Proto: "tcp", Port: 3000, HostPort: 0}, {Proto: "tcp", Port: 3001, HostPort: 0}, {Proto: "udp", Port: 3000, HostPort: 0}, {Proto: "udp", Port: 3001, HostPort: 0}}},
		{" 80 , 443 ", []ports.Mapping{{Proto: "tcp", Port: 80, HostPort: 0}, {Proto: "tcp", Port: 443, HostPort: 0}}},
		{"\t8080\n", []ports.Mapping{{Proto: "tcp", Port: 8080, HostPort: 0}}},
		{"80,18080:3000/udp,4000-4001", []ports.Mapping{{Proto: "tcp", Port: 80, HostPort: 0}, {Proto: "udp", Port: 3000, HostPort: 18080}, {Proto: "tcp", Port: 4000, HostPort: 0}, {Proto: "tcp", Port: 4001, HostPort: 0}}},
		{"3000:3000", []ports.Mapping{{Proto: "tcp", Port: 3000, HostPort: 3000}}},
		{"80,18080:8080", []ports.Mapping{{Proto: "tcp", Port: 80, HostPort: 0}, {Proto: "tcp", Port: 8080, HostPort: 18080}}},
	} {
		got, all, err := ParsePorts(c.in)
		if err != nil {
			t.Errorf("ParsePorts(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) || all.Any() {
			t.Errorf("ParsePorts(%q) = %v, %+v; want %v and no all", c.in, got, all, c.want)
		}
	}
}

func TestParsePortsErrors(t *testing.T) {
	for _, c := range []struct{ in, item, reason string }{
		// port 0 and ports over 65535
		{"0", "0", "port 0 is not allowed"},
		{"0:3000", "0:3000", "port 0 is not allowed"},
		{"18080:0", "18080:0", "port 0 is not allowed"},
		{"0-10", "0-10", "port 0 is not allowed"},
		{"65536", "65536", "port 65536 is over 65535"},
		{"80000", "80000", "port 80000 is over 65535"},
		{"99999999999999999999999", "99999999999999999999999", "is over 65535"},
		{"70000:3000", "70000:3000", "port 70000 is over 65535"},
		{"65000-70000", "65000-70000", "port 70000 is over 65535"},
		// not a number
		{"abc", "abc", "not a port number"},
		{"-1", "-1", "not a port number"},
		{"+5", "+5", "not a port number"},
		{"3000.5", "3000.5", "not a port number"},
		{"3000x", "3000x", "not a port number"},
		{"x3000", "x3000", "not a port number"},
		{"0x50", "0x50", "not a port number"},
		{"3 000", "3 000", "not a port number"},
		{"３０００", "３０００", "not a port number"},
		{"80,abc", "abc", "not a port number"},
		{"18080:abc", "18080:abc", `"abc" is not a port number`},
		{"3000-x", "3000-x", `"x" is not a port number`},
		{"1-2-3", "1-2-3", `"2-3" is not a port number`},
		{"1:2:3", "1:2:3", `"2:3" is not a port number`},
		{":3000", ":3000", "missing port number"},
		{"18080:", "18080:", "missing port number"},
		{"3000-", "3000-", "missing port number"},
		{"/tcp", "/tcp", "missing port number"},
		// empty items
		{"", "", "empty item"},
		{"  ", "", "empty item"},
		{"3000,,4000", "", "empty item"},
		{"3000,", "", "empty item"},
		{",3000", "", "empty item"},
		{"3000, ,4000", "", "empty item"},
		// ranges
		{"3000-2000", "3000-2000", "reversed range"},
		{"1-1025", "1-1025", "range of 1025 ports; at most 1024"},
		{"1-65535", "1-65535", "range of 65535 ports"},
		{"18080:3000-3001", "18080:3000-3001", "not a range"},
		// listed twice
		{"18080:3000,18080:4000", "18080:4000", "host port 18080/tcp is listed twice"},
		{"18080:3000/udp,18080:4000/udp", "18080:4000/udp", "host port 18080/udp is listed twice"},
		{"3000,3000", "3000", "port 3000/tcp is listed twice"},
		{"3000/tcp,3000", "3000", "port 3000/tcp is listed twice"},
		{"3000/udp,3000/UDP", "3000/UDP", "port 3000/udp is listed twice"},
		{"18080:3000,3000", "3000", "port 3000/tcp is listed twice"},
		{"3000-3005,3004", "3004", "port 3004/tcp is listed twice"},
		{"3000-3005,3004-3010", "3004-3010", "port 3004/tcp is listed twice"},
		// protocols
		{"3000/sctp", "3000/sctp", `unknown protocol "sctp"`},
		{"3000/", "3000/", `unknown protocol ""`},
		{"3000/tcp/udp", "3000/tcp/udp", `"3000/tcp" is not a port number`},
		{"3000 /tcp", "3000 /tcp", `"3000 " is not a port number`},
		// all
		{"all,all", "all", "all/tcp is listed twice"},
		{"all/udp,all", "all", "all/udp is listed twice"},
		{"all/tcp,ALL/TCP", "ALL/TCP", "all/tcp is listed twice"},
		{"all/sctp", "all/sctp", `unknown protocol "sctp"`},
		{"all/", "all/", `unknown protocol ""`},
		{"all:80", "all:80", `"all" is not a port number`},
		{"80:all", "80:all", `"all" is not a port number`},
		{"all-100", "all-100", `"all" is not a port number`},
		{"alll", "alll", "not a port number"},
		{"all,", "", "empty item"},
	} {
		_, _, err := ParsePorts(c.in)
		var pe *PortError
		if !errors.As(err, &pe) {
			t.Errorf("ParsePorts(%q): %v, want a *PortError", c.in, err)
			continue
		}
		if pe.Item != c.item {
			t.Errorf("ParsePorts(%q) names item %q, want %q (%v)", c.in, pe.Item, c.item, err)
		}
		if !strings.Contains(pe.Reason, c.reason) {
			t.Errorf("ParsePorts(%q) reason %q, want it to contain %q", c.in, pe.Reason, c.reason)
		}
		if want := fmt.Sprintf("invalid item %q: ", c.item); !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParsePorts(%q) = %q, want prefix %q", c.in, err, want)
		}
	}
}

func TestParsePortsAll(t *testing.T) {
	both := ports.All{TCP: true, UDP: true}
	for _, c := range []struct {
		in   string
		want []ports.Mapping
		all  ports.All
	}{
		{"all", nil, both},
		{"ALL", nil, both},
		{" all ", nil, both},
		{"all/tcp", nil, ports.All{TCP: true}},
		{"all/udp", nil, ports.All{UDP: true}},
		{"all/UDP", nil, ports.All{UDP: true}},
		{"all/tcp,all/udp", nil, both},
		{"8080:80,all", []ports.Mapping{{Proto: "tcp", Port: 80, HostPort: 8080}}, both},
		{"all,8080:80/udp", []ports.Mapping{{Proto: "udp", Port: 80, HostPort: 8080}}, both},
		{"3000,all/udp,4000-4001", []ports.Mapping{{Proto: "tcp", Port: 3000}, {Proto: "tcp", Port: 4000}, {Proto: "tcp", Port: 4001}}, ports.All{UDP: true}},
	} {
		got, all, err := ParsePorts(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) || all != c.all {
			t.Errorf("ParsePorts(%q) = %v, %+v, %v; want %v, %+v", c.in, got, all, err, c.want, c.all)
		}
	}
	for all, want := range map[ports.All]string{
		{TCP: true, UDP: true}: "all", {TCP: true}: "all/tcp", {UDP: true}: "all/udp", {}: "",
	} {
		if got := all.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", all, got, want)
		}
	}
}

func TestPortErrorLine(t *testing.T) {
	_, _, err := ParsePorts("abc")
	if got, want := err.Error(), `invalid item "abc": not a port number`; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}

func TestPortSpecString(t *testing.T) {
	for spec, want := range map[ports.Mapping]string{
		{Proto: "tcp", Port: 3000, HostPort: 0}:     "3000/tcp",
		{Proto: "udp", Port: 3000, HostPort: 0}:     "3000/udp",
		{Proto: "tcp", Port: 3000, HostPort: 18080}: "18080:3000/tcp",
		{Proto: "udp", Port: 3000, HostPort: 18080}: "18080:3000/udp",
	} {
		if got := spec.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", spec, got, want)
		}
	}
}
