package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `sockshim nri` is the plugin program beside sockshim: its flags, its
// errors and its manual, through sockshim.
func TestNRIRunsThePluginProgram(t *testing.T) {
	c := newCLI(t)
	if _, errOut, code := c.run("nri", "--metrics-go"); code != 2 || !strings.Contains(errOut, "--metrics-go needs --metrics-address") {
		t.Errorf("nri --metrics-go: exit %d, %q; want the plugin's usage error", code, errOut)
	}
	if out, _, code := c.run("help", "nri"); code != 0 || !strings.Contains(out, "--metrics-address") {
		t.Errorf("help nri: exit %d, %q; want the plugin's manual", code, out)
	}
	// Without the plugin beside it, one line says where it was looked for.
	lone := filepath.Join(t.TempDir(), "sockshim")
	data, err := os.ReadFile(sockshimBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(lone, "nri")
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), filepath.Join(filepath.Dir(lone), "sockshim-nri")) {
		t.Errorf("nri without sockshim-nri: exit %d, %q", code, out)
	}
}
