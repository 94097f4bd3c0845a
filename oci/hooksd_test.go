package oci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestHooksFile(t *testing.T) {
	if _, err := NewHooksFile("sockshim"); err == nil {
		t.Fatal("a relative hook path was accepted")
	}
	h, err := NewHooksFile("/usr/bin/sockshim", "--bpffs", "/x")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path, err := WriteHooksFile(dir, h)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	var back HooksFile
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Version != "1.0.0" || back.Hook.Path != "/usr/bin/sockshim" || !reflect.DeepEqual(back.Hook.Args, []string{"sockshim", "hook", "--bpffs", "/x"}) ||
		!reflect.DeepEqual(back.Stages, []string{"prestart", "poststop"}) || filepath.Base(path) != "sockshim.json" {
		t.Fatalf("hooks file %s", data)
	}
	for ann, want := range map[string]bool{
		AnnotationPorts:           true,
		AnnotationBypass:          true,
		"io.sockshim.portsX":      false,
		"xio.sockshim.ports":      false,
		"io.other":                false,
		"io.sockshim.ports/c.web": false,
	} {
		got, err := back.Matches(map[string]string{ann: "3000"})
		if err != nil || got != want {
			t.Errorf("annotation %q: match %v (%v), want %v", ann, got, err, want)
		}
	}
	if got, _ := back.Matches(nil); got {
		t.Error("a container without annotations matched")
	}
}

func TestInjectHooksIsIdempotent(t *testing.T) {
	bundle := t.TempDir()
	orig := `{"ociVersion":"1.0.2","process":{"args":["sh"]},"x-unknown":{"kept":true},"hooks":{"prestart":[{"path":"/bin/other"}]}}`
	os.WriteFile(filepath.Join(bundle, "config.json"), []byte(orig), 0o600)
	for i := 0; i < 2; i++ {
		if err := InjectHooks(bundle, "/usr/bin/sockshim", "--state-dir", "/s"); err != nil {
			t.Fatal(err)
		}
	}
	spec, err := ReadConfig(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(spec.Hooks.Prestart); n != 2 || spec.Hooks.Prestart[0].Path != "/bin/other" {
		t.Fatalf("prestart hooks %+v, want the other hook then sockshim's once", spec.Hooks.Prestart)
	}
	if got := spec.Hooks.Poststop[0].Args; !reflect.DeepEqual(got, []string{"sockshim", "hook", "--state-dir", "/s", "poststop"}) {
		t.Fatalf("poststop args %v", got)
	}
	var doc map[string]any
	data, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	json.Unmarshal(data, &doc)
	if doc["x-unknown"] == nil {
		t.Fatal("inject dropped an unknown member of config.json")
	}
	if err := RemoveHooks(bundle, "/usr/bin/sockshim"); err != nil {
		t.Fatal(err)
	}
	spec, _ = ReadConfig(bundle)
	if len(spec.Hooks.Prestart) != 1 || len(spec.Hooks.Poststop) != 0 {
		t.Fatalf("after remove: %+v", spec.Hooks)
	}
}
