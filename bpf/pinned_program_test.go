package bpf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// loadPinnedProgram opens the very programs the library's LoadPinnedProgram
// opens, and refuses what is not a program.
func TestLoadPinnedProgramMatchesLibrary(t *testing.T) {
	k := openTestKernel(t)
	for _, p := range cgroupPrograms {
		path := filepath.Join(k.progsDir(), p.name)
		if _, err := os.Stat(path); err != nil {
			continue // an optional object this kernel lacks
		}
		ours, err := loadPinnedProgram(path)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		theirs, err := ebpf.LoadPinnedProgram(path, nil)
		if err != nil {
			t.Fatalf("%s: library: %v", p.name, err)
		}
		a, _ := ours.Info()
		b, _ := theirs.Info()
		idA, _ := a.ID()
		idB, _ := b.ID()
		if idA != idB || idA == 0 || ours.Type() != theirs.Type() {
			t.Errorf("%s: opened id %d type %v, library id %d type %v", p.name, idA, ours.Type(), idB, theirs.Type())
		}
		ours.Close()
		theirs.Close()
	}

	_, err := loadPinnedProgram(filepath.Join(k.mapsDir(), mapVirtualToHost))
	if err == nil || !strings.Contains(err.Error(), "bpf-map") {
		t.Errorf("a pinned map opened as a program: %v", err)
	}
	_, err = loadPinnedProgram(filepath.Join(k.progsDir(), "no_such_program"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing pin: %v, want os.ErrNotExist", err)
	}
}
