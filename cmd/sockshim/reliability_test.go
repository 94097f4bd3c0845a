package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sockshim/sockshim/internal/cmdline"
	"github.com/sockshim/sockshim/internal/testenv"
)

// 50 containers start at once on a host where sockshim never ran: every
// prestart succeeds (one of them loads and pins, the others wait for it) and
// every container gets its own host port.
func TestConcurrentFirstUseHooks(t *testing.T) {
	c := newCLI(t)
	const n = 50
	pids := make([]int, n)
	for i := range pids {
		pids[i] = sleeperIn(t, testenv.Cgroup(t, c.parent, fmt.Sprint("c", i)))
	}
	var wg sync.WaitGroup
	errs := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, errOut, code := c.hook(state(fmt.Sprint("first-use-", i), "created", pids[i], "3000")); code != 0 {
				errs[i] = errOut
			}
		}()
	}
	wg.Wait()
	for i, e := range errs {
		if e != "" {
			t.Errorf("prestart %d failed: %s", i, e)
		}
	}
	seen := map[uint16]string{}
	for _, e := range c.ls() {
		h := e.Ports[0].HostPort
		if other, dup := seen[h]; dup {
			t.Errorf("%s and %s share host port %d", e.ID, other, h)
		}
		seen[h] = e.ID
	}
	if len(seen) != n {
		t.Fatalf("%d containers set up, want %d", len(seen), n)
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, errOut, code := c.hook(fmt.Sprintf(`{"id":"first-use-%d","status":"stopped"}`, i)); code != 0 {
				t.Errorf("poststop %d: %s", i, errOut)
			}
		}()
	}
	wg.Wait()
	checkNothingLeft(t, c)
}

// Container lifecycles (100; 1,000 under make stress), each in a cgroup shared
// with another process so that sockshim makes and removes a cgroup too,
// leave no record, link, pin or cgroup behind.
func TestContainerLifecyclesLeaveNothing(t *testing.T) {
	c := newCLI(t)
	shared := testenv.Cgroup(t, c.parent, "shared")
	sleeperIn(t, shared) // the other process in the shared cgroup
	cycles := testenv.Stress(100, 1000)
	for i := 0; i < cycles; i++ {
		sleeper := startSleeper(t, shared)
		pid := sleeper.Process.Pid
		id := fmt.Sprint("cycle-", i)
		if _, errOut, code := c.hook(state(id, "created", pid, "3000,3001/udp")); code != 0 {
			t.Fatalf("prestart %d: %s", i, errOut)
		}
		sleeper.Process.Kill()
		sleeper.Wait()
		if _, errOut, code := c.hook(fmt.Sprintf(`{"id":%q,"status":"stopped"}`, id)); code != 0 {
			t.Fatalf("poststop %d: %s", i, errOut)
		}
	}
	checkNothingLeft(t, c)
	entries, _ := os.ReadDir(shared)
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("cgroup %s left behind", filepath.Join(shared, e.Name()))
		}
	}
	t.Logf("%d container lifecycles", cycles)
}

// Bad environments: one line on stderr, exit 1, no panic.
func TestBadEnvironments(t *testing.T) {
	c := newCLI(t)
	pid := sleeperIn(t, testenv.Cgroup(t, c.parent, "ctr"))
	st := state("env", "created", pid, "3000")
	check := func(name string, cmd *exec.Cmd, want string) {
		t.Helper()
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		cmd.Stdin = strings.NewReader(st)
		cmd.Run()
		code := cmd.ProcessState.ExitCode()
		if code != cmdline.ExitFailure || o.Len() != 0 || strings.Count(e.String(), "\n") != 1 || !strings.Contains(e.String(), want) || strings.Contains(e.String(), "panic") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and one line containing %q", name, code, o.String(), e.String(), want)
		}
	}

	check("unwritable state dir", exec.Command(sockshimBin, "hook", "--bpffs", c.bpffs, "--state-dir", "/proc/sockshim-state"), "/proc/sockshim-state")

	notBPFFS := t.TempDir()
	check("bpffs not mounted and not mountable there", exec.Command(sockshimBin, "hook", "--bpffs", notBPFFS, "--state-dir", c.state), "not on a bpffs")

	// No cgroup v2 mount: in a mount namespace of its own where it is gone.
	mnt := testenv.CgroupMount(t)
	script := fmt.Sprintf("umount -l %s && exec %s hook --bpffs %s --state-dir %s", mnt, sockshimBin, c.bpffs, c.state)
	check("no cgroup v2 mount", exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script), "no cgroup v2 hierarchy")

	notRoot := exec.Command(sockshimBin, "hook", "--bpffs", c.bpffs, "--state-dir", c.state)
	notRoot.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	check("not root", notRoot, "must run as root")

	checkNothingLeft(t, c)
}
