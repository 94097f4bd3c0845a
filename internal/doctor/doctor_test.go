package doctor

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/internal/cgroup"
	"github.com/sockshim/sockshim/internal/testenv"
)

// informational checks may say anything; every other one must pass here.
var informational = map[string]bool{"kernel": true, "kernel lockdown": true}

func TestRunOnThisHost(t *testing.T) {
	testenv.RequireRoot(t)
	checks := Run(Options{})
	var b bytes.Buffer
	ok := Report(&b, checks)
	t.Logf("report:\n%s", b.String())
	if !ok {
		t.Error("Report says a required check failed")
	}
	names := map[string]bool{}
	for _, c := range checks {
		if names[c.Name] {
			t.Errorf("check %q listed twice", c.Name)
		}
		names[c.Name] = true
		if c.Detail == "" {
			t.Errorf("%s: no detail", c.Name)
		}
		if c.OK && c.Fix != "" {
			t.Errorf("%s: OK but has a fix %q", c.Name, c.Fix)
		}
		if !c.OK && c.Fix == "" {
			t.Errorf("%s: failed without a fix", c.Name)
		}
		if !c.OK && !informational[c.Name] {
			t.Errorf("%s failed: %s (fix: %s)", c.Name, c.Detail, c.Fix)
		}
	}
	for _, want := range []string{
		"privileges", "bpf() syscall", "cgroup v2", "bpffs",
		"map sockhash", "map cgroup storage", "map hash", "map percpu hash",
		"program sock_ops", "program sk_msg", "program sk_skb", "program cgroup sock_addr",
		"helper msg_redirect_hash in sk_msg", "helper sock_hash_update in sock_ops",
		"helper get_local_storage in cgroup sock_addr", "helper get_local_storage in sock_ops",
		"helper get_current_ancestor_cgroup_id in sk_msg",
		"sockmap FIONREAD", "kernel", "kernel lockdown",
		"sockmap read: signal wakeup", "sockmap read: MSG_WAITALL",
		"sockmap read: SO_RCVLOWAT", "sockmap read: splice",
		"privileged ports without CAP_NET_BIND_SERVICE", "ports=all programs load",
	} {
		if !names[want] {
			t.Errorf("no check %q", want)
		}
	}
}

func TestCgroupV2ReportsTheMountpoint(t *testing.T) {
	mnt, err := cgroup.Mountpoint()
	if err != nil {
		t.Skipf("no cgroup v2 here: %v", err)
	}
	c := cgroupV2()
	if !c.OK || !strings.HasSuffix(c.Detail, " "+mnt) {
		t.Fatalf("cgroup v2 check %+v, want it mounted at %s", c, mnt)
	}
}

func TestBPFFS(t *testing.T) {
	// A path below a tmpfs directory is not on a bpffs, and sockshim does
	// not mount one there: a required failure that says how to fix it.
	dir := filepath.Join(t.TempDir(), "not", "yet", "there")
	c := bpffs(dir)
	if c.OK || !c.Required || !strings.Contains(c.Fix, "mount -t bpf bpf "+dir) {
		t.Fatalf("bpffs(%s) = %+v", dir, c)
	}
	// Below /sys/fs/bpf it is fine either way: mounted, or mounted by
	// sockshim on first use.
	c = bpffs("/sys/fs/bpf/sockshim-doctor-test/does/not/exist")
	if !c.OK || c.Fix != "" {
		t.Fatalf("bpffs below /sys/fs/bpf = %+v", c)
	}
	t.Log(c.Detail)
}

func TestLockdownMode(t *testing.T) {
	for in, want := range map[string]string{
		"[none] integrity confidentiality\n": "off",
		"none [integrity] confidentiality\n": "on, integrity mode",
		"none integrity [confidentiality]\n": "on, confidentiality mode",
	} {
		if got := lockdownMode(in); got != want {
			t.Errorf("lockdownMode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReport(t *testing.T) {
	var b bytes.Buffer
	ok := Report(&b, []Check{
		{Name: "a", OK: true, Detail: "fine", Required: true},
		{Name: "b", Detail: "gone", Fix: "a newer kernel"}, // not required: degrades only
	})
	want := "ok   a: fine\nWARN b: gone (a newer kernel)\n"
	if !ok || b.String() != want {
		t.Fatalf("Report = %q, ok=%v; want %q, ok=true", b.String(), ok, want)
	}

	b.Reset()
	ok = Report(&b, []Check{
		{Name: "x", OK: true, Detail: "there"},
		{Name: "c", Required: true, Detail: "missing", Fix: "install it"},
	})
	want = "ok   x: there\nFAIL c: missing (fix: install it)\n"
	if ok || b.String() != want {
		t.Fatalf("Report = %q, ok=%v; want %q, ok=false", b.String(), ok, want)
	}

	b.Reset()
	// Info neither fails nor warns, whatever it found.
	ok = Report(&b, []Check{
		{Name: "i", OK: true, Info: true, Detail: "present (figures): handled"},
		{Name: "j", OK: true, Info: true, Detail: "probe failed: no loopback"},
	})
	want = "info i: present (figures): handled\ninfo j: probe failed: no loopback\n"
	if !ok || b.String() != want {
		t.Fatalf("Report = %q, ok=%v; want %q, ok=true", b.String(), ok, want)
	}

	b.Reset()
	if !Report(&b, nil) || b.Len() != 0 {
		t.Fatalf("empty report: %q", b.String())
	}
}
