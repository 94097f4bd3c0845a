package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testenv"
)

// BenchmarkHookPrestartPoststop runs the real binary as a runtime would:
// prestart (ports and bypass) and poststop of a container whose init process
// sleeps in its own cgroup, on warm pins. It reports p50 and p99 of each.
func BenchmarkHookPrestartPoststop(b *testing.B) {
	c := &cli{bpffs: testenv.BPFFS(b), state: b.TempDir(), parent: testenv.CgroupParent(b)}
	cg := testenv.Cgroup(b, c.parent, "container")
	fd, err := syscall.Open(cg, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	sleeper := exec.Command("sleep", "600")
	sleeper.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := sleeper.Start(); err != nil {
		b.Fatal(err)
	}
	syscall.Close(fd)
	b.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })

	hook := func(stage, status string) time.Duration {
		state := fmt.Sprintf(`{"ociVersion":"1.0.2","id":"bench","status":%q,"pid":%d,"annotations":{"io.sockshim.ports":"3000,3001/udp","io.sockshim.bypass":"true"}}`, status, sleeper.Process.Pid)
		cmd := exec.Command(sockshimBin, "hook", "--bpffs", c.bpffs, "--state-dir", c.state, stage)
		cmd.Stdin = strings.NewReader(state)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("hook %s: %v: %s", stage, err, out)
		}
		return d
	}
	hook("prestart", "created") // first use loads and pins: not counted
	hook("poststop", "stopped")

	var pre, post []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pre = append(pre, hook("prestart", "created"))
		post = append(post, hook("poststop", "stopped"))
	}
	b.StopTimer()
	report := func(name string, ds []time.Duration) {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(ds[(len(ds)*99)/100].Microseconds())/1000, name+"-p99-ms")
	}
	report("prestart", pre)
	report("poststop", post)
	if left, _ := filepath.Glob(filepath.Join(c.bpffs, "groups", "*")); len(left) != 0 {
		b.Fatalf("links left: %v", left)
	}
}
