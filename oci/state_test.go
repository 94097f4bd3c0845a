package oci

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// readStateFile reads one of the shared OCI states in ../testdata/oci.
func readStateFile(t *testing.T, name string) (*specs.State, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "oci", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return ReadState(f)
}

func TestReadState(t *testing.T) {
	st, err := readStateFile(t, "state-created.json")
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != "c1" || st.Pid != 42 || st.Bundle != "/b" || st.Status != specs.StateCreated || st.Annotations[AnnotationPorts] != "3000" {
		t.Fatalf("state %+v", st)
	}
	old, err := readStateFile(t, "state-stopped-bundlepath.json")
	if err != nil || old.Bundle != "/old" {
		t.Fatalf("bundlePath: %+v, %v", old, err)
	}
}

func TestReadStateRefusesBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"empty":       "",
		"blank":       " \n",
		"not JSON":    "hello",
		"wrong shape": `[1,2]`,
		"no id":       `{"status":"created","pid":1}`,
		"bad pid":     `{"id":"x","pid":"one"}`,
	} {
		if _, err := ReadState(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted %q", name, in)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", name, err)
		}
	}
}

func FuzzReadState(f *testing.F) {
	f.Add(`{"id":"c1","status":"created","pid":42,"bundle":"/b"}`)
	f.Add(`{"id":"c2","bundlePath":"/b","annotations":{"io.sockshim.ports":"3000"}}`)
	f.Add(`[]`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, in string) {
		st, err := ReadState(strings.NewReader(in))
		if err == nil && st.ID == "" {
			t.Fatalf("%q: accepted a state without id", in)
		}
	})
}

// A container id of 5,000 characters is refused in one short line that
// quotes only its start.
func TestReadStateLongID(t *testing.T) {
	id := strings.Repeat("a", 5000)
	_, err := ReadState(strings.NewReader(`{"ociVersion":"1.0.2","id":"` + id + `","status":"stopped"}`))
	if err == nil || len(err.Error()) > 200 || !strings.Contains(err.Error(), "5000 bytes") {
		t.Fatalf("error %v (%d bytes), want a short line naming the length", err, len(fmt.Sprint(err)))
	}
}
