package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/sockshim/sockshim/internal/testenv"
)

// Every mode of sockshim bench runs, prints its JSON, and leaves no group,
// cgroup or pin behind (its servers end by SIGTERM through sockshim run).
func TestBenchModesLeaveNothing(t *testing.T) {
	c := newCLI(t)
	parent := filepath.Join(testenv.CgroupMount(t), "sockshim")
	before := map[string]bool{}
	if entries, err := os.ReadDir(parent); err == nil {
		for _, e := range entries {
			before[e.Name()] = true
		}
	}
	for _, args := range [][]string{
		{"--mode", "rtt", "--requests", "2000"},
		{"--mode", "stream", "--seconds", "0.3"},
		{"--mode", "connect", "--connections", "300"},
	} {
		out, errOut, code := c.run(append([]string{"bench", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("bench %v: exit %d: %s", args, code, errOut)
		}
		var report map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &report); err != nil || report["plain"] == nil || report["bypass"] == nil {
			t.Fatalf("bench %v printed %q (%v)", args, out, err)
		}
	}
	checkNothingLeft(t, c)
	if entries, err := os.ReadDir(parent); err == nil {
		for _, e := range entries {
			if e.IsDir() && !before[e.Name()] {
				t.Errorf("bench left cgroup %s", filepath.Join(parent, e.Name()))
			}
		}
	}
}
