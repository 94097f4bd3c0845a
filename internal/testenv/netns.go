package testenv

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Netns makes a network namespace of the test's own with iproute2 (ip netns
// add), deleted in cleanup, and returns its name.
func Netns(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	name := "sockshim-test-" + RandomID()
	IP(t, "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return name
}

// IP runs ip(8) with args.
func IP(t testing.TB, args ...string) {
	t.Helper()
	ipWithInput(t, "", args...)
}

// IPBatch runs the ip(8) commands of lines, one a line, in the network
// namespace ns.
func IPBatch(t testing.TB, ns string, lines []string) {
	t.Helper()
	ipWithInput(t, strings.Join(lines, "\n")+"\n", "-n", ns, "-batch", "-")
}

func ipWithInput(t testing.TB, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command("ip", args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// InNetns runs fn on an OS thread that has entered the network namespace
// ns, and brings the thread back before it runs anything else. Only fn's
// own system calls run there: not its goroutines'.
func InNetns(t testing.TB, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("open this thread's network namespace: %v", err)
	}
	defer unix.Close(own)
	target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("open network namespace %s: %v", ns, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("enter network namespace %s: %v", ns, err)
	}
	defer func() {
		if err := unix.Setns(own, unix.CLONE_NEWNET); err != nil {
			// The thread stays locked, so the runtime ends it with
			// the test's goroutine instead of reusing it.
			t.Fatalf("leave network namespace %s: %v", ns, err)
		}
		runtime.UnlockOSThread()
	}()
	fn()
}
