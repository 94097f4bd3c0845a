package cgroup

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/mountinfo"
)

// noPid is above the kernel's PID_MAX_LIMIT, so no process ever has it.
const noPid = 1<<22 + 1

// The test process itself runs in the root cgroup here, so nothing below
// moves it or its children: sleeps start directly inside test cgroups
// (clone into a cgroup) and only move between those.

// testParent makes <mount>/sockshim-test-XXXX, removed (with whatever runs
// in it) in cleanup, also on failure.
func testParent(t *testing.T) (mnt, parent string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	mnt, err := Mountpoint()
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	rand.Read(b[:])
	parent = filepath.Join(mnt, "sockshim-test-"+hex.EncodeToString(b[:]))
	if err := Create(mnt, parent); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Remove(mnt, parent); err != nil {
			t.Errorf("remove test parent: %v", err)
		}
	})
	return mnt, parent
}

func child(t *testing.T, mnt, parent, name string) string {
	t.Helper()
	path := filepath.Join(parent, name)
	if err := Create(mnt, path); err != nil {
		t.Fatal(err)
	}
	return path
}

type sleeper struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once reaped
}

func (s *sleeper) pid() int { return s.cmd.Process.Pid }

// startSleep runs `sleep 60` born in cgroup cg; cleanup kills it by PID.
func startSleep(t *testing.T, cg string) *sleeper {
	t.Helper()
	fd, err := syscall.Open(cg, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	s := &sleeper{cmd: exec.Command("sleep", "60"), done: make(chan struct{})}
	s.cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.cmd.Process.Kill(); <-s.done })
	return s
}

func wantCgroup(t *testing.T, mnt string, pid int, want string) {
	t.Helper()
	if got, err := ForPID(mnt, pid); err != nil || got != want {
		t.Fatalf("ForPID(%d) = %q, %v; want %q", pid, got, err, want)
	}
}

func wantProcs(t *testing.T, mnt, cg string, want ...int) {
	t.Helper()
	got, err := Procs(mnt, cg)
	slices.Sort(got)
	slices.Sort(want)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Procs(%s) = %v, %v; want %v", cg, got, err, want)
	}
}

func wantGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s still there (stat: %v)", path, err)
	}
}

func TestMountpoint(t *testing.T) {
	mnt, err := Mountpoint()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Fatalf("%s is no cgroup2 file system (statfs: type %#x, %v)", mnt, st.Type, err)
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		found = found || len(f) > 4 && f[4] == mnt && strings.Contains(l, " - cgroup2 ")
	}
	if !found {
		t.Fatalf("mountinfo has no cgroup2 mount at %s:\n%s", mnt, data)
	}
}

func parse(t *testing.T, table string) []mountinfo.Mount {
	t.Helper()
	mounts, err := mountinfo.Parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	return mounts
}

func TestMountpointIn(t *testing.T) {
	hybrid := "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
		"32 31 0:29 / /sys/fs/cgroup/cpu rw shared:5 - cgroup cgroup rw,cpu\n" +
		`41 31 0:38 / /sys/fs/cgroup/uni\040fied rw - cgroup2 cgroup2 rw` + "\n"
	if got, err := mountpointIn(parse(t, hybrid)); err != nil || got != "/sys/fs/cgroup/uni fied" {
		t.Fatalf("hybrid table: %q, %v", got, err)
	}
	v1only := "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
	if _, err := mountpointIn(parse(t, v1only)); err == nil || !strings.Contains(err.Error(), "no cgroup v2 hierarchy") {
		t.Fatalf("v1-only table: %v, want no cgroup v2 hierarchy", err)
	}
}

func TestForPID(t *testing.T) {
	mnt, parent := testParent(t)
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rel, ok := strings.CutPrefix(l, "0::"); ok {
			wantCgroup(t, mnt, os.Getpid(), filepath.Join(mnt, rel))
		}
	}
	a := child(t, mnt, parent, "a")
	wantCgroup(t, mnt, startSleep(t, a).pid(), a)

	_, err = ForPID(mnt, noPid)
	if want := fmt.Sprintf("process %d does not exist", noPid); err == nil || err.Error() != want {
		t.Fatalf("ForPID of no process: %v, want %q", err, want)
	}
}

func TestRelative(t *testing.T) {
	mnt := "/sys/fs/cgroup/unified"
	if got, err := relative(mnt, mnt+"/a/b"); err != nil || got != "/a/b" {
		t.Fatalf("relative(child) = %q, %v", got, err)
	}
	for _, p := range []string{mnt, mnt + "/", "/sys/fs/cgroup", "/sys/fs/cgroup/unifiedx/a", "/tmp"} {
		if got, err := relative(mnt, p); err == nil {
			t.Errorf("relative(%s) = %q, want a refusal", p, got)
		}
	}
}

func TestCreateRemove(t *testing.T) {
	mnt, parent := testParent(t)
	c := filepath.Join(parent, "c")
	if err := Create(mnt, filepath.Join(c, "d")); err != nil {
		t.Fatal(err)
	}
	wantProcs(t, mnt, filepath.Join(c, "d"))
	if err := Create(mnt, mnt); err == nil {
		t.Fatal("Create of the root: no error")
	}
	if err := Remove(mnt, c); err != nil {
		t.Fatal(err)
	}
	wantGone(t, c)
	if err := Remove(mnt, c); err != nil {
		t.Fatalf("Remove of a removed cgroup: %v", err)
	}
	if _, err := Procs(mnt, c); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Procs of a removed cgroup: %v, want ErrNotExist", err)
	}
}

func TestRemoveKills(t *testing.T) {
	mnt, parent := testParent(t)
	c := child(t, mnt, parent, "c")
	inC := startSleep(t, c)
	inD := startSleep(t, child(t, mnt, c, "d"))
	if err := Remove(mnt, c); err != nil {
		t.Fatal(err)
	}
	wantGone(t, c)
	for _, s := range []*sleeper{inC, inD} {
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("process %d survived Remove", s.pid())
		}
		if ws := s.cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
			t.Errorf("process %d ended with %v, want SIGKILL", s.pid(), s.cmd.ProcessState)
		}
	}
}

func TestForContainerShared(t *testing.T) {
	mnt, parent := testParent(t)
	start, a := child(t, mnt, parent, "start"), child(t, mnt, parent, "a")
	ctr := startSleep(t, start)
	if err := Move(mnt, a, ctr.pid()); err != nil {
		t.Fatal(err)
	}
	wantCgroup(t, mnt, ctr.pid(), a)
	wantProcs(t, mnt, start)
	other := startSleep(t, a)

	cg, movedFrom, err := ForContainer(mnt, "abc", ctr.pid())
	if want := filepath.Join(a, "sockshim-abc"); err != nil || cg != want || movedFrom != a {
		t.Fatalf("ForContainer = %q, %q, %v; want %q, %q", cg, movedFrom, err, want, a)
	}
	wantCgroup(t, mnt, ctr.pid(), cg)
	wantProcs(t, mnt, cg, ctr.pid())
	wantProcs(t, mnt, a, other.pid())

	if err := Restore(mnt, cg, movedFrom, ctr.pid()); err != nil {
		t.Fatal(err)
	}
	wantCgroup(t, mnt, ctr.pid(), a)
	wantProcs(t, mnt, a, ctr.pid(), other.pid())
	wantGone(t, cg)
}

func TestForContainerAlone(t *testing.T) {
	mnt, parent := testParent(t)
	a := child(t, mnt, parent, "a")
	ctr := startSleep(t, a)
	cg, movedFrom, err := ForContainer(mnt, "abc", ctr.pid())
	if err != nil || cg != a || movedFrom != "" {
		t.Fatalf("ForContainer = %q, %q, %v; want %q, no move", cg, movedFrom, err, a)
	}
	wantGone(t, filepath.Join(a, "sockshim-abc"))
	wantCgroup(t, mnt, ctr.pid(), a)
	if err := Restore(mnt, cg, movedFrom, ctr.pid()); err != nil {
		t.Fatalf("Restore without a move: %v", err)
	}
	wantCgroup(t, mnt, ctr.pid(), a)
}

func TestForContainerErrors(t *testing.T) {
	mnt, parent := testParent(t)
	_, _, err := ForContainer(mnt, "abc", noPid)
	if want := fmt.Sprintf("process %d does not exist", noPid); err == nil || err.Error() != want {
		t.Fatalf("ForContainer of no process: %v, want %q", err, want)
	}
	// The root, without any process there: a pid that cannot exist, so
	// nothing could move even if the refusal failed.
	_, _, err = forContainerIn(mnt, mnt, "abc", noPid)
	if err == nil || !strings.Contains(err.Error(), "root cgroup") {
		t.Fatalf("ForContainer in the root: %v, want a refusal", err)
	}
	wantGone(t, filepath.Join(mnt, "sockshim-abc"))
	if _, err := Procs(mnt, mnt); err == nil {
		t.Fatal("Procs of the root: no error, want a refusal")
	}

	// Restore tries both undo steps and reports both failures.
	a := child(t, mnt, parent, "a")
	busy := child(t, mnt, a, "sockshim-abc")
	startSleep(t, busy)
	err = Restore(mnt, busy, a, noPid)
	if !errors.Is(err, syscall.ESRCH) || !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("Restore of no process out of a busy cgroup: %v, want ESRCH and EBUSY", err)
	}
}
