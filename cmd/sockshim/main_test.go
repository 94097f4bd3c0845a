package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testenv"
)

// sockshimBin is the real binary, built once for the tests that run it the
// way users and runtimes do.
var sockshimBin string

func TestMain(m *testing.M) {
	if testenv.IsHelper() {
		testenv.Main(m)
	}
	dir, err := os.MkdirTemp("", "sockshim-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // the not-root test runs it as nobody
	sockshimBin = filepath.Join(dir, "sockshim")
	// sockshim and, beside it, the NRI plugin that `sockshim nri` runs.
	for pkg, bin := range map[string]string{".": sockshimBin, "../sockshim-nri": sockshimBin + "-nri"} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as make build makes it
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli is one test's private sockshim installation: its own bpffs, state
// directory and cgroup parent.
type cli struct {
	t      *testing.T
	bpffs  string
	state  string
	parent string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	// First, so that its check runs after every teardown.
	testenv.WatchKernelLog(t)
	c := &cli{t: t, bpffs: testenv.BPFFS(t), state: t.TempDir(), parent: testenv.CgroupParent(t)}
	mnt := testenv.CgroupMount(t)
	t.Cleanup(func() {
		out, _ := exec.Command("bpftool", "cgroup", "show", mnt).CombinedOutput()
		if strings.Contains(string(out), "multi") {
			t.Errorf("programs attached to the root cgroup:\n%s", out)
		}
	})
	return c
}

// env is the environment that points the binary at this test's state.
func (c *cli) env() []string {
	// Test packages run in parallel, each with its own state: each takes
	// its own part of the pool (internal/group 20000-23999, nriplugin
	// 28000-29999).
	return append(os.Environ(), "SOCKSHIM_BPFFS="+c.bpffs, "SOCKSHIM_STATE_DIR="+c.state, "SOCKSHIM_POOL=24000-27999")
}

// cmd prepares `sockshim ARGS...`.
func (c *cli) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(sockshimBin, args...)
	cmd.Env = c.env()
	return cmd
}

// run runs `sockshim ARGS...` to completion.
func (c *cli) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	cmd := c.cmd(args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		c.t.Fatalf("sockshim %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// ls returns `sockshim ls --json`.
func (c *cli) ls() []lsEntry {
	c.t.Helper()
	out, errOut, code := c.run("ls", "--json")
	if code != 0 {
		c.t.Fatalf("ls: exit %d: %s", code, errOut)
	}
	var entries []lsEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		c.t.Fatalf("ls --json printed %q: %v", out, err)
	}
	return entries
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
