// Package critest runs a private containerd 2.x for tests that drive it the
// way the kubelet does, through CRI (with crictl): its own root, state,
// sockets, NRI socket and plugin directory under one temporary directory,
// its own cgroup below the test's, the images imported from a local archive.
// Everything is stopped by PID and removed in t.Cleanup, also on failure.
package critest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/rootfs"
	"github.com/sockshim/sockshim/internal/testenv"
)

// binDir is where scripts/deps.sh cri builds containerd 2.4.2 and crictl
// 1.37.0 (keep in step with it), below SOCKSHIM_CRI_CACHE if set.
const binDir = "containerd-v2.4.2-crictl-v1.37.0/bin"

var tools = []string{"containerd", "containerd-shim-runc-v2", "ctr", "crictl"}

// Bin returns the directory of the CRI tools. When they are missing the test
// is skipped, unless SOCKSHIM_CRI=1 (make test sets it after building them):
// then it fails, so that make test cannot pass without running these tests.
func Bin(t testing.TB) string {
	t.Helper()
	cache := os.Getenv("SOCKSHIM_CRI_CACHE")
	if cache == "" {
		cache = "/var/cache/sockshim/cri"
	}
	dir := filepath.Join(cache, binDir)
	for _, tool := range tools {
		if _, err := os.Stat(filepath.Join(dir, tool)); err != nil {
			if os.Getenv("SOCKSHIM_CRI") == "1" {
				t.Fatalf("%s is missing (SOCKSHIM_CRI=1): run scripts/deps.sh cri", filepath.Join(dir, tool))
			}
			t.Skipf("%s is missing: run scripts/deps.sh cri (make test does)", filepath.Join(dir, tool))
		}
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Fatal("runc is not installed: run scripts/deps.sh cri")
	}
	return dir
}

// Options say where the private containerd goes.
type Options struct {
	// CgroupParent is the test's cgroup v2 directory (testenv.CgroupParent):
	// containerd (and so its shims) runs in CgroupParent/containerd, the
	// pods in CgroupParent/pods.
	CgroupParent string
	// Plugins are pre-registered NRI plugins, written into containerd's
	// plugin_path before it starts: file name (NN-NAME) to contents.
	Plugins map[string]string
}

// Containerd is one private containerd.
type Containerd struct {
	t testing.TB
	// Dir holds everything it writes; short, for the unix sockets' 108
	// bytes.
	Dir       string
	Socket    string // CRI and containerd API
	NRISocket string // where external NRI plugins connect
	PluginDir string // NRI plugin_path
	// PodCgroup is the pods' cgroup_parent, relative to the hierarchies.
	PodCgroup string
	bin       string
	cgroup    string
	cmd       *exec.Cmd
	done      chan struct{}
}

// Start writes the configuration (testdata/cri/containerd.toml), starts
// containerd, waits for its socket and imports the Pause and Workload
// images.
func Start(t testing.TB, opts Options) *Containerd {
	t.Helper()
	bin := Bin(t)
	tmpl, err := os.ReadFile(RepoFile(t, "testdata/cri/containerd.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/tmp", "sockshim-cri-")
	if err != nil {
		t.Fatal(err)
	}
	mnt := testenv.CgroupMount(t)
	rel, err := filepath.Rel(mnt, opts.CgroupParent)
	if err != nil || strings.HasPrefix(rel, "..") || rel == "." {
		t.Fatalf("critest: %s is not a child cgroup of %s", opts.CgroupParent, mnt)
	}
	c := &Containerd{t: t, Dir: dir, Socket: filepath.Join(dir, "containerd.sock"), NRISocket: filepath.Join(dir, "nri.sock"),
		PluginDir: filepath.Join(dir, "nri", "plugins"), PodCgroup: "/" + rel + "/pods", bin: bin,
		cgroup: testenv.Cgroup(t, opts.CgroupParent, "containerd")}
	t.Cleanup(c.cleanup)
	if err := os.MkdirAll(c.PluginDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, contents := range opts.Plugins {
		if err := os.WriteFile(filepath.Join(c.PluginDir, name), []byte(contents), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	config := strings.ReplaceAll(string(tmpl), "@ROOT@", dir)
	yaml := fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n", c.Socket, c.Socket)
	if err := errors.Join(os.WriteFile(c.path("config.toml"), []byte(config), 0o600),
		os.WriteFile(c.path("crictl.yaml"), []byte(yaml), 0o600)); err != nil {
		t.Fatal(err)
	}
	c.Start()
	c.importImages()
	return c
}

func (c *Containerd) path(name string) string { return filepath.Join(c.Dir, name) }

// Start (re)starts containerd in its cgroup and waits until it answers.
func (c *Containerd) Start() {
	t := c.t
	t.Helper()
	logf, err := os.OpenFile(c.path("containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cg, err := os.Open(c.cgroup)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	cmd := exec.Command(filepath.Join(c.bin, "containerd"), "--config", c.path("config.toml"))
	// containerd finds containerd-shim-runc-v2 on its PATH.
	cmd.Env = append(os.Environ(), "PATH="+c.bin+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	c.cmd, c.done = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(c.done)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := c.Ctr("version"); err == nil {
			return
		}
		select {
		case <-c.done:
			t.Fatalf("containerd exited: %v\n%s", cmd.ProcessState, c.LogTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer on %s in 30 s\n%s", c.Socket, c.LogTail())
		}
	}
}

// Stop stops containerd by its PID: SIGTERM, then SIGKILL after 10 s. The
// shims, and so the pods, keep running, as with a real restart.
func (c *Containerd) Stop() {
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.t.Errorf("containerd did not stop on SIGTERM in 10 s: killing it")
		c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

// LogTail is the end of containerd's log, for failure messages.
func (c *Containerd) LogTail() string {
	data, _ := os.ReadFile(c.path("containerd.log"))
	const max = 8 << 10
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return string(data)
}

// Ctr runs ctr against this containerd in CRI's namespace.
func (c *Containerd) Ctr(args ...string) (string, error) {
	out, err := exec.Command(filepath.Join(c.bin, "ctr"), append([]string{"--address", c.Socket, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	return string(out), err
}

func (c *Containerd) importImages() {
	t := c.t
	root := t.TempDir()
	if err := rootfs.Build(root); err != nil {
		t.Fatal(err)
	}
	archive := c.path("images.tar")
	if err := WriteArchive(archive, root, Pause, Workload); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Ctr("images", "import", archive); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
}

// RepoFile is name (slash-separated, from the module root) as a path: tests
// run in their package's directory, the module root is where go.mod is.
func RepoFile(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, filepath.FromSlash(name))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the working directory: cannot find %s", name)
		}
		dir = parent
	}
}
