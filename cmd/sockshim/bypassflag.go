package main

import "github.com/sockshim/sockshim/oci"

// bypassFlag is --bypass (on for every connection) or --bypass=VALUE with a
// value as io.sockshim.bypass takes: true, false or a list of ports.
type bypassFlag struct{ oci.Bypass }

// IsBoolFlag lets --bypass stand alone, as a boolean flag would.
func (f *bypassFlag) IsBoolFlag() bool { return true }

func (f *bypassFlag) Set(value string) error {
	b, err := oci.ParseBypass(value)
	if err != nil {
		return err
	}
	f.Bypass = b
	return nil
}

func (f *bypassFlag) String() string {
	if f == nil || !f.On {
		return "false"
	}
	return "true"
}
