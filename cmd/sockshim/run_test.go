package main

import (
	"encoding/json"
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

const fetchPy = `import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().strip())`

// fetchIn runs a Python HTTP client in cgroup cg ("" for the test's own).
func fetchIn(t *testing.T, cg, url string) string {
	t.Helper()
	cmd := exec.Command("python3", "-c", fetchPy, url)
	if cg != "" {
		fd, err := syscall.Open(cg, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fd)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("GET %s from %q: %v: %s", url, cg, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Two `sockshim run` groups serve HTTP on 3000 at once (python3's
// http.server from the host's /usr); a client in each reaches its own by
// 3000, the host reaches each by its host port, ls shows both, and SIGTERM
// ends each with everything removed.
func TestRunTwoGroupsShareAPort(t *testing.T) {
	c := newCLI(t)
	var procs []*exec.Cmd
	for _, name := range []string{"web-a", "web-b"} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "who"), []byte(name+"\n"), 0o644)
		cmd := c.cmd("run", "--ports", "3000", "--bypass", "--name", name, "--cgroup-parent", c.parent, "--",
			"python3", "-m", "http.server", "3000", "--bind", "127.0.0.1", "--directory", dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	var entries []lsEntry
	waitFor(t, "both groups in ls", func() bool { entries = c.ls(); return len(entries) == 2 })
	hosts := map[string]uint16{}
	for _, e := range entries {
		if e.Kind != "run" || !e.Bypass || len(e.Ports) != 1 || e.Ports[0].Port != 3000 || e.Ports[0].Proto != "tcp" {
			t.Fatalf("ls entry %+v", e)
		}
		hosts[e.ID] = e.Ports[0].HostPort
		waitFor(t, e.ID+" serving", func() bool {
			out, err := exec.Command("python3", "-c", fetchPy, fmt.Sprintf("http://127.0.0.1:%d/who", e.Ports[0].HostPort)).Output()
			return err == nil && strings.TrimSpace(string(out)) == e.ID
		})
		if got := fetchIn(t, e.Cgroup, "http://127.0.0.1:3000/who"); got != e.ID {
			t.Errorf("inside %s, 127.0.0.1:3000 served %q", e.ID, got)
		}
		out, _, code := c.run("port", e.ID, "3000")
		if want := fmt.Sprintf("0.0.0.0:%d\n", e.Ports[0].HostPort); code != 0 || out != want {
			t.Errorf("sockshim port %s 3000 = %q (exit %d), want %q", e.ID, out, code, want)
		}
	}
	if hosts["web-a"] == hosts["web-b"] {
		t.Fatalf("both groups got host port %d", hosts["web-a"])
	}

	// ls --json carries exactly the documented keys.
	out, _, _ := c.run("ls", "--json")
	var raw []map[string]any
	json.Unmarshal([]byte(out), &raw)
	for _, key := range []string{"id", "cgroup", "bypass", "ports", "redirected_bytes"} {
		if _, ok := raw[0][key]; !ok {
			t.Errorf("ls --json entry lacks %q: %v", key, raw[0])
		}
	}

	for i, cmd := range procs {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
			t.Errorf("run %d ended with %d, want %d (the command's death by SIGTERM)", i, code, 128+int(syscall.SIGTERM))
		}
	}
	if left := c.ls(); len(left) != 0 {
		t.Fatalf("after both runs ended, ls shows %v", left)
	}
	for _, e := range entries {
		if _, err := os.Stat(e.Cgroup); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left behind", e.Cgroup)
		}
	}
	if groups, _ := os.ReadDir(filepath.Join(c.bpffs, "groups")); len(groups) != 0 {
		t.Errorf("links left pinned: %v", groups)
	}
}

func TestRunExitCodeAndLeftovers(t *testing.T) {
	c := newCLI(t)
	// A background process outlives the command: run kills it and still
	// removes the cgroup.
	_, errOut, code := c.run("run", "--cgroup-parent", c.parent, "--name", "bg", "--", "sh", "-c", "sleep 300 & exit 3")
	if code != 3 {
		t.Fatalf("exit %d, want 3 (%s)", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(c.parent, "bg")); !os.IsNotExist(err) {
		t.Fatal("cgroup with a leftover process not removed")
	}
	_, errOut, code = c.run("run", "--ports", "80000", "--", "true")
	if code != cmdline.ExitUsage || !strings.Contains(errOut, `"80000"`) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("bad --ports: exit %d, stderr %q; want exit 2 and one line naming the item", code, errOut)
	}
	_, errOut, code = c.run("run", "--cgroup-parent", c.parent, "--", "/nonexistent/cmd")
	if code != cmdline.ExitRunFailure || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("missing command: exit %d, stderr %q; want 125 and one line", code, errOut)
	}
}

func TestResetLeavesNothing(t *testing.T) {
	c := newCLI(t)
	cmd := c.cmd("run", "--ports", "3000", "--bypass", "--name", "long", "--cgroup-parent", c.parent, "--", "sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "the group", func() bool { return len(c.ls()) == 1 })
	if _, errOut, code := c.run("reset"); code != 0 {
		t.Fatalf("reset: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(c.bpffs); !os.IsNotExist(err) {
		t.Fatalf("pins remain under %s after reset", c.bpffs)
	}
	if n, err := testenv.AttachedPrograms(filepath.Join(c.parent, "long")); err != nil || n != 0 {
		t.Fatalf("%d programs still attached after reset (%v)", n, err)
	}
	if left := c.ls(); len(left) != 0 {
		t.Fatalf("records remain after reset: %v", left)
	}
}

// --bypass=PORTS scopes the bypass as io.sockshim.bypass=PORTS does: ls
// shows the ports, and a bad list is refused with the item named.
func TestRunBypassPorts(t *testing.T) {
	c := newCLI(t)
	cmd := c.cmd("run", "--bypass=3000,6379", "--name", "scoped", "--cgroup-parent", c.parent, "--", "sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var entries []lsEntry
	waitFor(t, "the group in ls", func() bool { entries = c.ls(); return len(entries) == 1 })
	if e := entries[0]; !e.Bypass || fmt.Sprint(e.BypassPorts) != "[3000 6379]" {
		t.Fatalf("ls entry %+v, want the bypass scoped to 3000 and 6379", e)
	}
	out, _, _ := c.run("ls")
	if !strings.Contains(out, "3000,6379") {
		t.Errorf("ls does not show the bypass ports:\n%s", out)
	}
	_, errOut, code := c.run("run", "--bypass=3000/udp", "--", "true")
	if code != cmdline.ExitUsage || !strings.Contains(errOut, `"3000/udp"`) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("bad --bypass: exit %d, stderr %q; want exit 2 and one line naming the item", code, errOut)
	}
}
