package nriplugin

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	nri "github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/group"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/internal/testenv"
)

// testRuntime plays containerd: the real NRI adaptation (the code containerd
// and CRI-O embed) over a real socket, with containers that are real
// processes in real child cgroups.
type testRuntime struct {
	t      *testing.T
	dir    string
	nri    *nri.Adaptation
	parent string
	k      *bpf.Kernel
	bpffs  string
	store  *records.Store
	// metrics, when set, are the next plugin's (see serveMetrics).
	metrics *Metrics

	mu     sync.Mutex
	pods   map[string]*api.PodSandbox
	ctrs   map[string]*api.Container
	synced chan struct{}
	log    testWriter
}

func newRuntime(t *testing.T) *testRuntime {
	t.Helper()
	// First, so that its check runs after every teardown.
	testenv.WatchKernelLog(t)
	dir, err := os.MkdirTemp("/tmp", "sockshim-nri-") // short: a socket path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &testRuntime{t: t, dir: dir, parent: testenv.CgroupParent(t), log: newTestWriter(t),
		pods: map[string]*api.PodSandbox{}, ctrs: map[string]*api.Container{}, synced: make(chan struct{}, 8)}
	r.bpffs = testenv.BPFFS(t)
	k, err := bpf.Open(r.bpffs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	r.k = k
	if r.store, err = records.Open(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	r.nri, err = nri.New("sockshim-test-runtime", "v0", r.synchronize,
		func(context.Context, []*api.ContainerUpdate) ([]*api.ContainerUpdate, error) { return nil, nil },
		nri.WithPluginPath(filepath.Join(dir, "plugins")), nri.WithPluginConfigPath(filepath.Join(dir, "conf.d")),
		nri.WithSocketPath(filepath.Join(dir, "nri.sock")))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.nri.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.nri.Stop)
	mnt := testenv.CgroupMount(t)
	t.Cleanup(func() {
		if n, _ := testenv.AttachedPrograms(mnt); n != 0 {
			t.Errorf("%d programs attached to the root cgroup", n)
		}
	})
	return r
}

func (r *testRuntime) synchronize(ctx context.Context, cb nri.SyncCB) error {
	r.mu.Lock()
	var pods []*api.PodSandbox
	var ctrs []*api.Container
	for _, p := range r.pods {
		pods = append(pods, p)
	}
	for _, c := range r.ctrs {
		ctrs = append(ctrs, c)
	}
	r.mu.Unlock()
	_, err := cb(ctx, pods, ctrs)
	r.synced <- struct{}{}
	return err
}

// startPlugin connects a sockshim plugin to the runtime and waits for its
// Synchronize; the returned function stops it (a plugin crash or restart).
func (r *testRuntime) startPlugin() (stop func()) {
	t := r.t
	t.Helper()
	// This package's part of the pool: test packages run in parallel.
	pool := group.Pool{Low: 28000, High: 29999}
	p := &Plugin{K: r.k, Store: r.store, Pool: pool, Log: slog.New(slog.NewTextHandler(r.log, nil)), Metrics: r.metrics}
	s, err := stub.New(p, stub.WithSocketPath(filepath.Join(r.dir, "nri.sock")), stub.WithPluginName("sockshim"), stub.WithPluginIdx("10"),
		stub.WithLogger(StubLogger(p.Log)))
	if err != nil {
		t.Fatal(err)
	}
	// The adaptation also synchronizes at its own start (pre-installed
	// plugins): forget those signals, wait for this plugin's.
	for len(r.synced) > 0 {
		<-r.synced
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		cancel()
		t.Fatalf("start plugin: %v", err)
	}
	select {
	case <-r.synced:
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin was never synchronized")
	}
	// The adaptation adds the plugin to its list after the sync callback
	// returns, under the sync lock: once a sync block can be had, the
	// plugin receives events (containerd relies on the same lock).
	r.nri.BlockPluginSync().Unblock()
	var once sync.Once
	stop = func() { once.Do(func() { s.Stop(); cancel(); s.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// testWriter sends the plugin's log to the test's log while the test runs
// (t.Log after the test has completed would panic).
type testWriter struct {
	t    *testing.T
	mu   *sync.Mutex
	done *bool
}

func newTestWriter(t *testing.T) testWriter {
	w := testWriter{t: t, mu: &sync.Mutex{}, done: new(bool)}
	t.Cleanup(func() { w.mu.Lock(); *w.done = true; w.mu.Unlock() })
	return w
}

func (w testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (r *testRuntime) pod(name string, annotations map[string]string) *api.PodSandbox {
	p := &api.PodSandbox{Id: "pod-" + name, Name: name, Namespace: "default", Uid: "uid-" + name, Annotations: annotations}
	r.mu.Lock()
	r.pods[p.Id] = p
	r.mu.Unlock()
	return p
}

// container is one container: its process in its own cgroup, created but not
// started (it waits for its go file).
type container struct {
	api  *api.Container
	pod  *api.PodSandbox
	cg   string
	proc *testenv.Proc
	goes string
}

// create makes the container's cgroup and process and sends CreateContainer.
func (r *testRuntime) create(pod *api.PodSandbox, name string, annotations map[string]string, cmd ...string) (*container, error) {
	t := r.t
	t.Helper()
	cg := testenv.Cgroup(t, r.parent, name)
	goes := filepath.Join(r.dir, "go-"+name)
	proc := testenv.Start(t, cg, append([]string{"await", goes}, cmd...)...)
	ctr := &api.Container{
		Id: "ctr-" + name, PodSandboxId: pod.Id, Name: name, State: api.ContainerState_CONTAINER_CREATED,
		Annotations: annotations, Pid: uint32(proc.Pid()),
		Linux: &api.LinuxContainer{CgroupsPath: strings.TrimPrefix(cg, testenv.CgroupMount(t))},
	}
	_, err := r.nri.CreateContainer(context.Background(), &nri.CreateContainerRequest{Pod: pod, Container: ctr})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.ctrs[ctr.Id] = ctr
	r.mu.Unlock()
	return &container{api: ctr, pod: pod, cg: cg, proc: proc, goes: goes}, nil
}

// start sends StartContainer, then lets the process run.
func (r *testRuntime) start(c *container) {
	r.t.Helper()
	if err := r.nri.StartContainer(context.Background(), &nri.StartContainerRequest{Pod: c.pod, Container: c.api}); err != nil {
		r.t.Fatalf("StartContainer %s: %v", c.api.Name, err)
	}
	r.mu.Lock()
	c.api.State = api.ContainerState_CONTAINER_RUNNING
	r.mu.Unlock()
	os.WriteFile(c.goes, nil, 0o600)
}

// stop kills the process and sends StopContainer and RemoveContainer.
func (r *testRuntime) stopAndRemove(c *container) {
	r.t.Helper()
	c.proc.Wait(0)
	ctx := context.Background()
	if _, err := r.nri.StopContainer(ctx, &nri.StopContainerRequest{Pod: c.pod, Container: c.api}); err != nil {
		r.t.Fatalf("StopContainer %s: %v", c.api.Name, err)
	}
	if err := r.nri.RemoveContainer(ctx, &nri.RemoveContainerRequest{Pod: c.pod, Container: c.api}); err != nil {
		r.t.Fatalf("RemoveContainer %s: %v", c.api.Name, err)
	}
	r.mu.Lock()
	delete(r.ctrs, c.api.Id)
	r.mu.Unlock()
}
