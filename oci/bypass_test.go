package oci

import "testing"

func TestParseBypass(t *testing.T) {
	for in, want := range map[string]bool{
		"true": true, "TRUE": true, "True": true, " true\t": true,
		"false": false, "FALSE": false, " false ": false,
	} {
		if got, err := ParseBypass(in); err != nil || got != want {
			t.Errorf("ParseBypass(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "yes", "no", "1", "0", "on", "t", "truex", "true,false"} {
		if _, err := ParseBypass(in); err == nil {
			t.Errorf("ParseBypass(%q) accepted", in)
		}
	}
	_, err := ParseBypass("x")
	if got, want := err.Error(), `invalid value "x": want true or false`; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
