package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testenv"
)

// podmanEnv runs podman with private storage, runc (crun refuses the hybrid
// cgroup layout of these hosts), the cgroupfs manager, the ulimits this host
// allows (no CAP_SYS_RESOURCE), and sockshim's hooks.d file in a temporary
// directory written by `sockshim install`.
type podmanEnv struct {
	*cli
	args   []string
	rootfs string
	conf   string
}

func newPodman(t *testing.T) *podmanEnv {
	requireTool(t, "podman")
	requireTool(t, "runc")
	p := &podmanEnv{cli: newCLI(t)}
	// podman refuses a runroot longer than 50 characters: t.TempDir()'s
	// names are too long.
	dir, err := os.MkdirTemp("/tmp", "sockshim-podman-")
	if err != nil {
		t.Fatal(err)
	}
	// podman's overlay driver leaves its work directory bind-mounted on
	// itself: unmount what podman mounted under dir, then remove it.
	t.Cleanup(func() {
		// conmon runs `podman container cleanup` on this root once a
		// container exits, also after podman rm returned: let those end
		// first, or they make the directories again.
		waitNoProcessNaming(t, dir, 10*time.Second)
		if err := testenv.UnmountUnder(dir); err != nil {
			t.Errorf("unmount podman's mounts: %v", err)
		}
		os.RemoveAll(dir)
	})
	hooks := filepath.Join(dir, "hooks.d")
	if _, errOut, code := p.run("install", "--hooks-dir", hooks); code != 0 {
		t.Fatalf("sockshim install: %s", errOut)
	}
	p.conf = containersConf(t)
	// vfs: with --rootfs there is no image to layer, and overlay would
	// leave its work directory mounted (podman's exit-time cleanup of a
	// container mounts it again after the test's).
	p.args = []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"), "--storage-driver", "vfs", "--hooks-dir", hooks}
	p.rootfs = filepath.Join(dir, "rootfs")
	makeRootfs(t, p.rootfs)
	return p
}

func (p *podmanEnv) podman(args ...string) (string, error) {
	cmd := exec.Command("podman", append(append([]string{}, p.args...), args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// runDetached starts a host-network container and returns its id.
func (p *podmanEnv) runDetached(name string, annotations []string, www string, args ...string) string {
	t := p.t
	argv := []string{"run", "-d", "--name", name, "--network", "host",
		"-v", "/usr:/usr:ro", "-v", www + ":/www:ro", "-v", testBinary(t) + ":/helper/test:ro",
		"-e", "SOCKSHIM_TESTENV_HELPER=1"}
	for _, a := range annotations {
		argv = append(argv, "--annotation", a)
	}
	argv = append(append(argv, "--rootfs", p.rootfs), args...)
	out, err := p.podman(argv...)
	if err != nil {
		t.Fatalf("podman run %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { p.podman("rm", "-f", "-t", "0", name) })
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

func TestPodmanTwoContainersShare3000(t *testing.T) {
	p := newPodman(t)
	names := []string{"sockshim-pod-a", "sockshim-pod-b"}
	ids := map[string]string{}
	for _, name := range names {
		ids[name] = p.runDetached(name, []string{"io.sockshim.ports=3000", "io.sockshim.bypass=true"}, wwwDir(t, name), "httpd", "-f", "-p", "3000", "-h", "/www")
	}
	plainID := p.runDetached("sockshim-pod-plain", nil, wwwDir(t, "plain"), "sleep", "300")

	entries := p.ls()
	if _, ok := entryFor(entries, plainID); ok {
		t.Fatalf("a container without annotations is under sockshim: %+v", entries)
	}
	hosts := map[uint16]bool{}
	var cgroups []string
	for _, name := range names {
		e, ok := entryFor(entries, ids[name])
		if !ok || e.Kind != "container" || !e.Bypass || len(e.Ports) != 1 || e.Ports[0].Port != 3000 {
			t.Fatalf("ls has no bypass container %s with 3000: %+v", name, entries)
		}
		cgroups = append(cgroups, e.Cgroup)
		h := e.Ports[0].HostPort
		if h < 24000 || h > 27999 || hosts[h] { // this package's pool (main_test.go)
			t.Fatalf("%s: host port %d outside the pool or shared", name, h)
		}
		hosts[h] = true
		waitFor(t, name+" serving", func() bool {
			got, err := hostFetch(fmt.Sprintf("http://127.0.0.1:%d/who", h))
			return err == nil && got == name
		})
		out, err := p.podman("exec", name, "wget", "-qO-", "http://127.0.0.1:3000/who")
		if err != nil || strings.TrimSpace(out) != name {
			t.Errorf("inside %s, 127.0.0.1:3000 gave %q (%v)", name, out, err)
		}
		out, _, code := p.run("port", ids[name][:12])
		if want := fmt.Sprintf("3000/tcp -> 0.0.0.0:%d\n", h); code != 0 || out != want {
			t.Errorf("sockshim port %s = %q, want %q", name, out, want)
		}
	}
	for _, name := range names {
		if out, err := p.podman("stop", "-t", "1", name); err != nil {
			t.Fatalf("podman stop: %v: %s", err, out)
		}
		if out, err := p.podman("rm", name); err != nil {
			t.Fatalf("podman rm: %v: %s", err, out)
		}
	}
	for _, cg := range cgroups {
		if n, _ := testenv.AttachedPrograms(cg); n != 0 {
			t.Errorf("%d programs still attached to %s", n, cg)
		}
	}
	p.podman("rm", "-f", "-t", "0", "sockshim-pod-plain")
	checkNothingLeft(t, p.cli)
}

func TestPodmanBadAnnotationRefused(t *testing.T) {
	p := newPodman(t)
	for _, value := range []string{"80000", "abc", "3000-2000"} {
		out, err := p.podman("run", "--rm", "--network", "host", "--annotation", "io.sockshim.ports="+value, "--rootfs", p.rootfs, "true")
		if err == nil {
			t.Errorf("podman run with io.sockshim.ports=%s succeeded", value)
			continue
		}
		if !strings.Contains(out, "io.sockshim.ports") || !strings.Contains(out, fmt.Sprintf("%q", value)) {
			t.Errorf("io.sockshim.ports=%s: error output does not name the annotation and the item:\n%s", value, out)
		}
	}
	checkNothingLeft(t, p.cli)
}

// Two bypass containers exchange 64 MiB each way: SHA-256 equal, and the
// counters show the bytes went through the redirect.
func TestPodmanBypassBetweenContainers(t *testing.T) {
	p := newPodman(t)
	n := 64 << 20
	ann := []string{"io.sockshim.bypass=true"}
	// The server stays up after the exchange so that its counters can be
	// read: when it exits, poststop removes its record.
	srvID := p.runDetached("sockshim-pod-srv", ann, t.TempDir(), "sh", "-c", fmt.Sprintf("/helper/test exchange listen 127.0.0.1:0 %d 11; sleep 300", n))
	logs := waitOutput(t, "the server's address", func() string { out, _ := p.podman("logs", "sockshim-pod-srv"); return out }, `"addr"`)
	var l struct{ Addr string }
	lastJSON(t, logs, &l)
	out, err := p.podman(append([]string{"run", "--rm", "--name", "sockshim-pod-cli", "--network", "host", "-v", "/usr:/usr:ro",
		"-v", testBinary(t) + ":/helper/test:ro", "-e", "SOCKSHIM_TESTENV_HELPER=1", "--annotation", ann[0], "--rootfs", p.rootfs},
		"/helper/test", "exchange", "dial", l.Addr, fmt.Sprint(n), "12")...)
	if err != nil {
		t.Fatalf("client container: %v\n%s", err, out)
	}
	var cli exchangeResult
	lastJSON(t, out, &cli)
	srvOut := waitOutput(t, "the server's result", func() string { out, _ := p.podman("logs", "sockshim-pod-srv"); return out }, `"sent_sha"`)
	var srv exchangeResult
	lastJSON(t, srvOut, &srv)
	if srv.Sent != int64(n) || cli.Recv != int64(n) || cli.Sent != int64(n) || srv.Recv != int64(n) {
		t.Fatalf("bytes: server sent %d got %d, client sent %d got %d", srv.Sent, srv.Recv, cli.Sent, cli.Recv)
	}
	if srv.SentSHA != cli.RecvSHA || cli.SentSHA != srv.RecvSHA {
		t.Fatal("SHA-256 differs: bytes were corrupted between the containers")
	}
	e, ok := entryFor(p.ls(), srvID)
	// All of it, or less when flow control sent some by the normal path
	// (counted as switches); see bpf/c/normal_path.h.
	if !ok || e.RedirectedBytes == 0 || e.RedirectedBytes > uint64(n) ||
		(e.RedirectedBytes < uint64(n)*9/10 && e.NormalPathSwitches == 0) {
		t.Fatalf("server container redirected %d bytes of %d, with %d switches to the normal path", e.RedirectedBytes, n, e.NormalPathSwitches)
	}
	t.Logf("server container redirected %d bytes, %d switches to the normal path", e.RedirectedBytes, e.NormalPathSwitches)
}

// Under io.sockshim.ports=all two containers both serve on a port their
// annotations never name; each gets its own host port when it binds, which
// sockshim port then finds.
func TestPodmanPortsAllServesAnUnlistedPort(t *testing.T) {
	p := newPodman(t)
	names := []string{"sockshim-all-a", "sockshim-all-b"}
	hosts := map[string]bool{}
	for _, name := range names {
		id := p.runDetached(name, []string{"io.sockshim.ports=all"}, wwwDir(t, name), "httpd", "-f", "-p", "4711", "-h", "/www")
		var host string
		waitFor(t, name+" bound 4711", func() bool {
			out, _, code := p.run("port", id[:12], "4711")
			host = strings.TrimSpace(out)
			return code == 0
		})
		if hosts[host] || !strings.HasPrefix(host, "0.0.0.0:") {
			t.Fatalf("%s: 4711 on host address %q (taken so far: %v)", name, host, hosts)
		}
		hosts[host] = true
		url := "http://127.0.0.1:" + strings.TrimPrefix(host, "0.0.0.0:") + "/who"
		waitFor(t, name+" serving", func() bool { got, err := hostFetch(url); return err == nil && got == name })
		if out, err := p.podman("exec", name, "wget", "-qO-", "http://127.0.0.1:4711/who"); err != nil || strings.TrimSpace(out) != name {
			t.Errorf("inside %s, 127.0.0.1:4711 gave %q (%v)", name, out, err)
		}
	}
	for _, name := range names {
		if out, err := p.podman("rm", "-f", "-t", "1", name); err != nil {
			t.Fatalf("podman rm: %v: %s", err, out)
		}
	}
	checkNothingLeft(t, p.cli)
}

// waitNoProcessNaming waits until no process has s in its command line.
func waitNoProcessNaming(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		busy := ""
		for _, c := range cmdlines {
			if data, err := os.ReadFile(c); err == nil && strings.Contains(string(data), s) {
				busy = c
				break
			}
		}
		if busy == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("a process still names %s after %s (%s)", s, timeout, busy)
			return
		}
	}
}
