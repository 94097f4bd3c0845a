package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Every mode of sockshim bench runs, prints its JSON, and leaves no group,
// cgroup or pin behind (its servers end by SIGTERM through sockshim run).
func TestBenchModesLeaveNothing(t *testing.T) {
	c := newCLI(t)
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
	mnt := filepath.Join(c.parent, "..", "sockshim")
	if entries, err := os.ReadDir(mnt); err == nil && len(entries) > 0 {
		for _, e := range entries {
			if e.IsDir() {
				t.Errorf("bench left cgroup %s", filepath.Join(mnt, e.Name()))
			}
		}
	}
}
