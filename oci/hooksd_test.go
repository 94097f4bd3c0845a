package oci

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
)

// hooksFileWant is what `sockshim install --bpffs /x` writes for
// /usr/bin/sockshim; podman and CRI-O parse it, so its bytes must not drift.
func hooksFileWant(t *testing.T) string {
	t.Helper()
	want, err := os.ReadFile(filepath.Join("..", "testdata", "hooks.d", "sockshim.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(want)
}

// matches reports whether h's conditions select a container with these
// annotations, as podman evaluates them: every annotation pattern must match
// some annotation, key and value anchored.
func matches(h *HooksFile, annotations map[string]string) (bool, error) {
	if h.When.Always != nil && *h.When.Always && len(h.When.Annotations) == 0 {
		return true, nil
	}
	for kp, vp := range h.When.Annotations {
		kre, err := regexp.Compile("^(?:" + kp + ")$")
		if err != nil {
			return false, fmt.Errorf("hooks.d annotation key pattern %q: %w", kp, err)
		}
		vre, err := regexp.Compile("^(?:" + vp + ")$")
		if err != nil {
			return false, fmt.Errorf("hooks.d annotation value pattern %q: %w", vp, err)
		}
		found := false
		for k, v := range annotations {
			if kre.MatchString(k) && vre.MatchString(v) {
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	return len(h.When.Annotations) > 0, nil
}

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
	if string(data) != hooksFileWant(t) {
		t.Fatalf("hooks file\n%s\nwant\n%s", data, hooksFileWant(t))
	}
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
		got, err := matches(&back, map[string]string{ann: "3000"})
		if err != nil || got != want {
			t.Errorf("annotation %q: match %v (%v), want %v", ann, got, err, want)
		}
	}
	if got, _ := matches(&back, nil); got {
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
