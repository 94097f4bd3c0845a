package testenv

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// StartCommand runs argv (any program, not a helper of this test binary)
// with its first instruction already in cgroupPath ("" for the test's own
// cgroup), and kills it in cleanup. Its stdout is read with Line and JSON
// (an empty line reads as the end, so give it programs that print none),
// its end is waited for with Wait. Stdout is only read when asked: a program
// that prints more than a pipe holds unread blocks.
func StartCommand(t testing.TB, cgroupPath string, argv ...string) *Proc {
	t.Helper()
	if len(argv) == 0 {
		t.Fatal("StartCommand: no program")
	}
	return startCmd(t, cgroupPath, exec.Command(argv[0], argv[1:]...))
}

// StartCommandAs is StartCommand for a process of user uid and group gid,
// without capabilities (no ambient ones are passed on).
func StartCommandAs(t testing.TB, cgroupPath string, uid, gid uint32, argv ...string) *Proc {
	t.Helper()
	if len(argv) == 0 {
		t.Fatal("StartCommandAs: no program")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	return startCmd(t, cgroupPath, cmd)
}

// startCmd launches cmd for Start and StartCommand: clone3 into the cgroup,
// our own stdout pipe, kill and reap in cleanup.
func startCmd(t testing.TB, cgroupPath string, cmd *exec.Cmd) *Proc {
	t.Helper()
	if cgroupPath != "" {
		fd, err := syscall.Open(cgroupPath, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open cgroup %s: %v", cgroupPath, err)
		}
		defer syscall.Close(fd)
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}
	// An os.Pipe, not StdoutPipe: Wait runs concurrently and would close a
	// StdoutPipe before its last lines are read.
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout = w
	cmd.Stderr = p.stderr
	p.lines = bufio.NewScanner(out)
	p.lines.Buffer(make([]byte, 1<<20), 1<<20)
	err = cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		out.Close()
	})
	return p
}
