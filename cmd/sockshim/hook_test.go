package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sockshim/sockshim/internal/cmdline"
	"github.com/sockshim/sockshim/internal/testenv"
)

// sleeperIn starts `sleep 300` in cgroup cg and returns its pid.
func sleeperIn(t *testing.T, cg string) int {
	t.Helper()
	return startSleeper(t, cg).Process.Pid
}

// startSleeper starts `sleep 300` in cgroup cg; cleanup kills and reaps it.
func startSleeper(t *testing.T, cg string) *exec.Cmd {
	t.Helper()
	fd, err := syscall.Open(cg, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func (c *cli) hook(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	cmd := c.cmd(append([]string{"hook"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Run()
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

func state(id, status string, pid int, ports string) string {
	return fmt.Sprintf(`{"ociVersion":"1.0.2","id":%q,"status":%q,"pid":%d,"annotations":{"io.sockshim.ports":%q}}`, id, status, pid, ports)
}

// A runtime that leaves the container in a cgroup shared with another
// process: the hook makes a child cgroup for the container alone, moves the
// init process there, and poststop removes it.
func TestHookSharedCgroupGetsOwnChild(t *testing.T) {
	c := newCLI(t)
	shared := testenv.Cgroup(t, c.parent, "shared")
	pid := sleeperIn(t, shared)
	other := sleeperIn(t, shared)
	if out, errOut, code := c.hook(state("shared-c", "created", pid, "3000")); code != 0 || out != "" {
		t.Fatalf("prestart: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	child := filepath.Join(shared, "sockshim-shared-c")
	procs, _ := os.ReadFile(filepath.Join(child, "cgroup.procs"))
	if strings.TrimSpace(string(procs)) != fmt.Sprint(pid) {
		t.Fatalf("child cgroup holds %q, want the init process %d alone", procs, pid)
	}
	if n, _ := testenv.AttachedPrograms(shared); n != 0 {
		t.Fatalf("%d programs attached to the shared cgroup (process %d is there too)", n, other)
	}
	if n, _ := testenv.AttachedPrograms(child); n == 0 {
		t.Fatal("nothing attached to the container's child cgroup")
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100; i++ { // the process must be gone before its cgroup can go
		if syscall.Kill(pid, 0) != nil {
			break
		}
		exec.Command("true").Run()
	}
	if _, errOut, code := c.hook(`{"id":"shared-c","status":"stopped"}`); code != 0 {
		t.Fatalf("poststop: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(child); !os.IsNotExist(err) {
		t.Fatal("poststop left the child cgroup")
	}
	checkNothingLeft(t, c)
}

// poststop never fails a removal for want of something to clean, and bad
// input gets one line and exit 1.
func TestHookContract(t *testing.T) {
	c := newCLI(t)
	if _, errOut, code := c.hook(`{"id":"never-started","status":"stopped"}`); code != 0 {
		t.Fatalf("poststop without prestart: exit %d: %s", code, errOut)
	}
	if _, _, code := c.hook(`{"id":"plain","status":"created","pid":1}`); code != 0 {
		t.Fatalf("container without annotations: exit %d", code)
	}
	for name, in := range map[string]string{
		"empty stdin":        "",
		"not JSON":           "{",
		"wrong shape":        `["id"]`,
		"no pid":             `{"id":"x","status":"created","annotations":{"io.sockshim.ports":"3000"}}`,
		"pid does not exist": `{"id":"x","status":"created","pid":999999999,"annotations":{"io.sockshim.ports":"3000"}}`,
		"bad annotation":     `{"id":"x","status":"created","pid":1,"annotations":{"io.sockshim.ports":"3000-2000"}}`,
	} {
		out, errOut, code := c.hook(in)
		if code != cmdline.ExitFailure || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "sockshim: ") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and one line", name, code, out, errOut)
		}
	}
	if _, errOut, _ := c.hook(`{"id":"x","status":"created","pid":1,"annotations":{"io.sockshim.ports":"3000-2000"}}`); !strings.Contains(errOut, `io.sockshim.ports: invalid item "3000-2000"`) {
		t.Errorf("bad annotation message %q", errOut)
	}
	checkNothingLeft(t, c)
}

// Without the bypass (a kernel that refuses its programs, or the operator's
// SOCKSHIM_DISABLE_BYPASS), a container asking for it still starts, on the
// normal path, with its ports and one warning.
func TestHookBypassUnavailableDegrades(t *testing.T) {
	c := newCLI(t)
	cg := testenv.Cgroup(t, c.parent, "degraded")
	pid := sleeperIn(t, cg)
	cmd := c.cmd("hook", "prestart")
	cmd.Env = append(cmd.Env, "SOCKSHIM_DISABLE_BYPASS=1")
	cmd.Stdin = strings.NewReader(fmt.Sprintf(`{"id":"degraded","status":"created","pid":%d,"annotations":{"io.sockshim.ports":"3000","io.sockshim.bypass":"true"}}`, pid))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("prestart refused the container: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "io.sockshim.bypass") || !strings.Contains(string(out), "normal path") {
		t.Errorf("no warning about the bypass: %q", out)
	}
	entries := c.ls()
	if len(entries) != 1 || entries[0].Bypass || len(entries[0].Ports) != 1 {
		t.Fatalf("ls: %+v, want the ports without the bypass", entries)
	}
	n, _ := testenv.AttachedPrograms(cg)
	if want := 8; n != want { // the TCP port remap's programs (no UDP port: no sendmsg/recvmsg), no sockops
		t.Fatalf("%d programs attached, want %d", n, want)
	}
	if _, errOut, code := c.hook(`{"id":"degraded","status":"stopped"}`); code != 0 {
		t.Fatalf("poststop: %s", errOut)
	}
	checkNothingLeft(t, c)
}
