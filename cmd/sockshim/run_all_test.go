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
	"github.com/sockshim/sockshim/internal/ports"
)

// `sockshim run --ports all`: the server's port gets its host port when it
// binds, and ls and port show it from the kernel's maps; a port not bound
// has none yet.
func TestRunPortsAll(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "who"), []byte("all\n"), 0o644)
	cmd := c.cmd("run", "--ports", "all", "--name", "web", "--cgroup-parent", c.parent, "--",
		"python3", "-m", "http.server", "3000", "--bind", "127.0.0.1", "--directory", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var e lsEntry
	waitFor(t, "3000 bound in ls", func() bool {
		entries := c.ls()
		if len(entries) == 1 {
			e = entries[0]
		}
		return len(e.Ports) == 1
	})
	m := e.Ports[0]
	if e.All != (ports.All{TCP: true, UDP: true}) || m.Proto != "tcp" || m.Port != 3000 || m.HostPort < 24000 || m.HostPort > 27999 {
		t.Fatalf("ls entry %+v, want all and 3000/tcp on a pool port", e)
	}
	waitFor(t, "the server", func() bool {
		out, err := exec.Command("python3", "-c", fetchPy, fmt.Sprintf("http://127.0.0.1:%d/who", m.HostPort)).Output()
		return err == nil && strings.TrimSpace(string(out)) == "all"
	})
	if got := fetchIn(t, e.Cgroup, "http://127.0.0.1:3000/who"); got != "all" {
		t.Errorf("inside, 127.0.0.1:3000 served %q", got)
	}
	if out, _, _ := c.run("ls"); !strings.Contains(out, fmt.Sprintf("all,3000/tcp->%d", m.HostPort)) {
		t.Errorf("ls does not show all and the mapping:\n%s", out)
	}
	if out, _, code := c.run("port", "web"); code != 0 || out != fmt.Sprintf("3000/tcp -> 0.0.0.0:%d\n", m.HostPort) {
		t.Errorf("sockshim port web = %q (exit %d)", out, code)
	}
	if out, _, code := c.run("port", "web", "3000"); code != 0 || out != fmt.Sprintf("0.0.0.0:%d\n", m.HostPort) {
		t.Errorf("sockshim port web 3000 = %q (exit %d)", out, code)
	}
	if _, errOut, code := c.run("port", "web", "4000"); code != cmdline.ExitFailure || !strings.Contains(errOut, "not bound 4000/tcp yet") {
		t.Errorf("sockshim port web 4000: exit %d, %q; want 1 and a line saying it is not bound yet", code, errOut)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if left := c.ls(); len(left) != 0 {
		t.Fatalf("after the run ended, ls shows %v", left)
	}
}
