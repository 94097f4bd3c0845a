package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "SOCKSHIM_TESTENV_HELPER"

// IsHelper reports whether this test binary was started as a helper.
func IsHelper() bool { return os.Getenv(helperEnv) != "" }

// Main runs the helper commands when the test binary was started as a
// helper, else the tests. Call it from TestMain.
func Main(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// Proc is a helper process running in a cgroup.
type Proc struct {
	cmd    *exec.Cmd
	lines  *bufio.Scanner
	stderr *bytes.Buffer
	done   chan struct{}
	err    error
}

// Start runs the helper command args (see helpers.go) with its first
// instruction already in cgroupPath ("" for the test's own cgroup), and kills
// it in cleanup.
func Start(t testing.TB, cgroupPath string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	return startCmd(t, cgroupPath, cmd)
}

// Line returns the helper's next stdout line, failing after timeout.
func (p *Proc) Line(t testing.TB, timeout time.Duration) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		if p.lines.Scan() {
			got <- p.lines.Text()
		} else {
			got <- ""
		}
	}()
	select {
	case l := <-got:
		if l == "" {
			t.Fatalf("helper %v ended without output: %v\nstderr: %s", p.cmd.Args[1:], p.err, p.stderr.String())
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("helper %v: no output in %v\nstderr: %s", p.cmd.Args[1:], timeout, p.stderr.String())
	}
	return ""
}

// JSON decodes the helper's next stdout line into v.
func (p *Proc) JSON(t testing.TB, timeout time.Duration, v any) {
	t.Helper()
	l := p.Line(t, timeout)
	if err := json.Unmarshal([]byte(l), v); err != nil {
		t.Fatalf("helper %v printed %q: %v", p.cmd.Args[1:], l, err)
	}
}

// Wait waits for the helper to exit and returns its stderr and error.
func (p *Proc) Wait(timeout time.Duration) (string, error) {
	select {
	case <-p.done:
		return p.stderr.String(), p.err
	case <-time.After(timeout):
		// SIGQUIT first: the Go runtime prints every goroutine's stack to
		// stderr, which shows where the helper was stuck.
		p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		return p.stderr.String(), fmt.Errorf("helper %v: timed out after %v", p.cmd.Args[1:], timeout)
	}
}

// Pid is the helper's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Run runs a helper to completion and decodes its one JSON line into v.
func Run(t testing.TB, cgroupPath string, timeout time.Duration, v any, args ...string) {
	t.Helper()
	p := Start(t, cgroupPath, args...)
	p.JSON(t, timeout, v)
	if stderr, err := p.Wait(timeout); err != nil {
		t.Fatalf("helper %v: %v\n%s", args, err, strings.TrimSpace(stderr))
	}
}

// OpenFDs counts this process's open file descriptors (a probe that leaks
// one shows as a growing count).
func OpenFDs(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// Stop kills the helper and waits for its end.
func (p *Proc) Stop() {
	p.cmd.Process.Kill()
	<-p.done
}
