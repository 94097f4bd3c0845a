package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sockshim/sockshim/internal/cgroup"
	"github.com/sockshim/sockshim/internal/rootfs"
)

// bench holds the set-up shared by all rounds: a private sockshim state, a
// private podman with sockshim's hook, a container root filesystem, and a
// veth pair between two network namespaces of its own.
type bench struct {
	bin     string
	quick   bool
	env     []string // SOCKSHIM_BPFFS and SOCKSHIM_STATE_DIR
	bpffs   string
	work    string
	rootfs  string
	podArgs []string // podman's storage, for every podman call
	// hooks holds sockshim's hooks.d file; noopHooks the same with
	// /bin/true for the hook.
	hooks, noopHooks string
	netns            [2]string
	s                samples
}

type rtt struct {
	MeanUS float64 `json:"mean_us"`
	P99US  float64 `json:"p99_us"`
}

func newBench(bin string, quick bool) (b *bench, err error) {
	defer func() { // fatal before main's clean-up is in place
		if r := recover(); r != nil {
			if f, ok := r.(benchFailure); ok {
				err = f.err
				return
			}
			panic(r)
		}
	}()
	work, err := os.MkdirTemp("/tmp", "ssbench-") // podman: runroot under 50 characters
	if err != nil {
		return nil, err
	}
	b = &bench{bin: bin, quick: quick, work: work, s: samples{},
		bpffs: fmt.Sprintf("/sys/fs/bpf/sockshim-bench-%d", os.Getpid())}
	b.env = append(os.Environ(), "SOCKSHIM_BPFFS="+b.bpffs, "SOCKSHIM_STATE_DIR="+filepath.Join(work, "state"))
	b.rootfs = filepath.Join(work, "rootfs")
	if err := rootfs.Build(b.rootfs); err != nil {
		return nil, err
	}
	conf, err := filepath.Abs("scripts/containers.conf")
	if err != nil {
		return nil, err
	}
	b.env = append(b.env, "CONTAINERS_CONF="+conf)
	b.hooks = filepath.Join(work, "hooks.d")
	b.sockshim("install", "--hooks-dir", b.hooks)
	b.noopHooks = filepath.Join(work, "hooks-noop.d")
	if err := writeNoopHook(b.hooks, b.noopHooks); err != nil {
		return nil, err
	}
	b.podArgs = []string{"--root", filepath.Join(work, "s"), "--runroot", filepath.Join(work, "r")}
	if err := b.setupVeth(); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *bench) close() {
	b.podman("rm", "-f", "-t", "0", "-a")
	for _, ns := range b.netns {
		if ns != "" {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	}
	b.cmd(b.bin, "reset").Run() // never fatal: this runs while failing too
	os.RemoveAll(b.work)
}

func (b *bench) cmd(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = b.env
	c.Stderr = os.Stderr
	return c
}

func (b *bench) sockshim(args ...string) []byte {
	out, err := b.cmd(b.bin, args...).Output()
	if err != nil {
		fatal(fmt.Errorf("sockshim %s: %w", strings.Join(args, " "), err))
	}
	return out
}

func (b *bench) podman(args ...string) ([]byte, error) { return b.podmanHooks(b.hooks, args...) }

// podmanHooks runs podman with the hooks of hooksDir.
func (b *bench) podmanHooks(hooksDir string, args ...string) ([]byte, error) {
	c := b.cmd("podman", append(append(append([]string{}, b.podArgs...), "--hooks-dir", hooksDir), args...)...)
	c.Stderr = nil
	return c.Output()
}

// writeNoopHook writes into dir the hooks.d file installed in from, with
// /bin/true for the hook: podman's own cost of running a hook at the same
// stages for the same annotations.
func writeNoopHook(from, dir string) error {
	data, err := os.ReadFile(filepath.Join(from, "sockshim.json"))
	if err != nil {
		return err
	}
	var hook map[string]any
	if err := json.Unmarshal(data, &hook); err != nil {
		return fmt.Errorf("read the installed hooks.d file: %w", err)
	}
	hook["hook"] = map[string]any{"path": "/bin/true", "args": []string{"true"}}
	if data, err = json.Marshal(hook); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "noop.json"), data, 0o644)
}

func (b *bench) requests(full int) string {
	if b.quick {
		full /= 10
	}
	return strconv.Itoa(full)
}

// round runs every experiment once.
func (b *bench) round() {
	for _, size := range []int{1024, 64, 16384} {
		n := 100000
		if size == 1024 {
			n = 250000 // the reference experiment
		}
		var r struct{ Plain, Bypass, Unix rtt }
		decode(b.sockshim("bench", "--json", "--requests", b.requests(n), "--size", strconv.Itoa(size)), &r)
		for v, res := range map[string]rtt{"plain": r.Plain, "bypass": r.Bypass, "unix": r.Unix} {
			b.s.add(fmt.Sprintf("rtt%d/%s/mean", size, v), res.MeanUS)
			b.s.add(fmt.Sprintf("rtt%d/%s/p99", size, v), res.P99US)
		}
	}
	type stream struct {
		MBPerS float64 `json:"mb_per_s"`
	}
	var st struct{ Plain, Bypass stream }
	secs := "3"
	if b.quick {
		secs = "1"
	}
	decode(b.sockshim("bench", "--json", "--mode", "stream", "--seconds", secs), &st)
	b.s.add("stream/plain", st.Plain.MBPerS)
	b.s.add("stream/bypass", st.Bypass.MBPerS)
	b.bufferSweep()
	type connect struct {
		ConnsPerS       float64 `json:"conns_per_s"`
		SocketsNotFreed float64 `json:"sockets_not_freed"`
	}
	var cr struct{ Plain, Bypass connect }
	decode(b.sockshim("bench", "--json", "--mode", "connect", "--connections", b.requests(20000)), &cr)
	b.s.add("connect/plain", cr.Plain.ConnsPerS)
	b.s.add("connect/bypass", cr.Bypass.ConnsPerS)
	b.s.add("connect/plain/not-freed", cr.Plain.SocketsNotFreed)
	b.s.add("connect/bypass/not-freed", cr.Bypass.SocketsNotFreed)

	b.containerRTT("host+bypass", "host", "io.sockshim.bypass=true")
	b.containerRTT("host", "host", "io.sockshim.bypass=false")
	b.containerRTT("bridge", "bridge", "")
	b.vethRTT()
	b.startTimes()
}

// containerRTT measures the reference experiment between two podman
// containers: an echo server and a client, both pinned to CPU 0.
func (b *bench) containerRTT(name, network, annotation string) {
	opts := []string{"--network", network, "-v", "/usr:/usr:ro", "-v", b.bin + ":/sockshim:ro"}
	if annotation != "" {
		opts = append(opts, "--annotation", annotation)
	}
	srvName := "rtt-srv-" + strings.ReplaceAll(name, "+", "-")
	if out, err := b.podman(append(append([]string{"run", "-d", "--name", srvName}, opts...), "--rootfs", b.rootfs, "/sockshim", "__bench-echo", "tcp", "0.0.0.0", "1024", "0")...); err != nil {
		fatal(fmt.Errorf("start %s echo server: %v: %s", name, err, out))
	}
	defer b.podman("rm", "-f", "-t", "0", srvName)
	var port string
	for i := 0; i < 100 && port == ""; i++ {
		out, _ := b.podman("logs", srvName)
		port = strings.TrimSpace(strings.Split(string(out), "\n")[0])
		if port == "" {
			time.Sleep(50 * time.Millisecond)
		}
	}
	addr := "127.0.0.1:" + port
	if network == "bridge" {
		ip, err := b.podman("inspect", "--format", "{{.NetworkSettings.IPAddress}}", srvName)
		if err != nil {
			fatal(fmt.Errorf("server address: %v", err))
		}
		addr = strings.TrimSpace(string(ip)) + ":" + port
	}
	out, err := b.podman(append(append([]string{"run", "--rm"}, opts...), "--rootfs", b.rootfs, "/sockshim", "__bench-client", "tcp", addr, b.requests(50000), "1024", "0")...)
	if err != nil {
		fatal(fmt.Errorf("%s client: %v: %s", name, err, out))
	}
	var r rtt
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	decode([]byte(lines[len(lines)-1]), &r)
	b.s.add("containers/"+name+"/mean", r.MeanUS)
	b.s.add("containers/"+name+"/p99", r.P99US)
}

// setupVeth makes two network namespaces joined by a veth pair: the set-up a
// container network without a bridge would have.
func (b *bench) setupVeth() error {
	tag := strconv.Itoa(os.Getpid() % 100000)
	b.netns = [2]string{"ssb-a-" + tag, "ssb-b-" + tag}
	steps := [][]string{
		{"netns", "add", b.netns[0]}, {"netns", "add", b.netns[1]},
		{"link", "add", "ssba" + tag, "type", "veth", "peer", "name", "ssbb" + tag},
		{"link", "set", "ssba" + tag, "netns", b.netns[0]}, {"link", "set", "ssbb" + tag, "netns", b.netns[1]},
		{"-n", b.netns[0], "addr", "add", "10.213.7.1/24", "dev", "ssba" + tag},
		{"-n", b.netns[1], "addr", "add", "10.213.7.2/24", "dev", "ssbb" + tag},
		{"-n", b.netns[0], "link", "set", "ssba" + tag, "up"}, {"-n", b.netns[1], "link", "set", "ssbb" + tag, "up"},
		{"-n", b.netns[0], "link", "set", "lo", "up"}, {"-n", b.netns[1], "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return nil
}

func (b *bench) vethRTT() {
	srv := exec.Command("ip", "netns", "exec", b.netns[0], b.bin, "__bench-echo", "tcp", "10.213.7.1", "1024", "0")
	pipe, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	buf := make([]byte, 32)
	n, _ := pipe.Read(buf)
	port := strings.TrimSpace(string(buf[:n]))
	out := run("ip", "netns", "exec", b.netns[1], b.bin, "__bench-client", "tcp", "10.213.7.1:"+port, b.requests(50000), "1024", "0")
	var r rtt
	decode(out, &r)
	b.s.add("veth/mean", r.MeanUS)
	b.s.add("veth/p99", r.P99US)
}

// startTimes times `podman run --rm ... true`, interleaving the three kinds.
func (b *bench) startTimes() {
	annotated := []string{"--network", "host", "--annotation", "io.sockshim.ports=3000", "--annotation", "io.sockshim.bypass=true"}
	kinds := []struct {
		name  string
		hooks string
		args  []string
	}{
		{"hooked", b.hooks, annotated},
		{"noop-hook", b.noopHooks, annotated},
		{"unhooked", b.hooks, []string{"--network", "host"}},
		{"bridge", b.hooks, []string{"--network", "bridge"}},
	}
	// Container starts vary by several ms from run to run, more than
	// the hook's share: 15 interleaved runs of each kind, for medians
	// that hold still.
	runs := 15
	if b.quick {
		runs = 2
	}
	for i := 0; i < runs; i++ {
		for _, k := range kinds {
			start := time.Now()
			if out, err := b.podmanHooks(k.hooks, append(append([]string{"run", "--rm"}, k.args...), "--rootfs", b.rootfs, "true")...); err != nil {
				fatal(fmt.Errorf("start %s: %v: %s", k.name, err, out))
			}
			b.s.add("start/"+k.name, since(start))
		}
	}
}

// hookLatency times the hook's prestart and poststop through the binary,
// as a runtime runs it, on warm pins.
func (b *bench) hookLatency() {
	mnt, err := cgroup.Mountpoint()
	if err != nil {
		fatal(err)
	}
	cg := filepath.Join(mnt, fmt.Sprintf("sockshim-bench-%d", os.Getpid()))
	os.Mkdir(cg, 0o755)
	defer os.Remove(cg)
	fd, err := syscall.Open(cg, syscall.O_DIRECTORY|syscall.O_RDONLY, 0)
	if err != nil {
		fatal(err)
	}
	sleeper := exec.Command("sleep", "600")
	sleeper.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := sleeper.Start(); err != nil {
		fatal(err)
	}
	syscall.Close(fd)
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	timed := func(c *exec.Cmd) float64 {
		start := time.Now()
		if err := c.Run(); err != nil {
			fatal(fmt.Errorf("%s: %v", strings.Join(c.Args, " "), err))
		}
		return since(start)
	}
	hook := func(stage, status string) float64 {
		c := b.cmd(b.bin, "hook", stage)
		c.Stdin = strings.NewReader(fmt.Sprintf(`{"id":"bench-hook","status":%q,"pid":%d,"annotations":{"io.sockshim.ports":"3000","io.sockshim.bypass":"true"}}`, status, sleeper.Process.Pid))
		return timed(c)
	}
	n := 200
	if b.quick {
		n = 20
	}
	// Interleaved with the hook's runs, the machine's floor: a fork and
	// exec of /bin/true, and of the same binary doing nothing
	// (`sockshim version`: the Go runtime's start and the package
	// initialisation every hook run pays first).
	var pre, post, trueRuns, versionRuns []float64
	for i := 0; i < n; i++ {
		pre = append(pre, hook("prestart", "created"))
		post = append(post, hook("poststop", "stopped"))
		trueRuns = append(trueRuns, timed(exec.Command("/bin/true")))
		versionRuns = append(versionRuns, timed(b.cmd(b.bin, "version")))
	}
	for _, vs := range [][]float64{pre, post, trueRuns, versionRuns} {
		sort.Float64s(vs)
	}
	b.s.add("hook/prestart/p50", pre[len(pre)/2])
	b.s.add("hook/prestart/p99", pre[len(pre)*99/100])
	b.s.add("hook/poststop/p50", post[len(post)/2])
	b.s.add("hook/true/p50", trueRuns[len(trueRuns)/2])
	b.s.add("hook/version/p50", versionRuns[len(versionRuns)/2])
}

// sweepSizes and sweepEnds are the socket buffer sizes and the ends they are
// set on in the stream sweep.
var (
	sweepSizes = []int{64 << 10, 512 << 10, 2 << 20, 8 << 20}
	sweepEnds  = []string{"reader", "writer", "both"}
)

func sweepKey(end string, size int) string { return fmt.Sprintf("sweep/%s/%d", end, size) }

// bufferSweep runs the stream at each buffer size on the reader
// (SO_RCVBUF), the writer (SO_SNDBUF) and both.
func (b *bench) bufferSweep() {
	type stream struct {
		MBPerS          float64 `json:"mb_per_s"`
		Retransmits     float64 `json:"retransmits"`
		Bytes           float64 `json:"bytes"`
		NormalPathBytes float64 `json:"normal_path_bytes"`
	}
	for _, end := range sweepEnds {
		for _, size := range sweepSizes {
			args := []string{"bench", "--json", "--mode", "stream", "--seconds", "1"}
			if end != "writer" {
				args = append(args, "--rcvbuf", strconv.Itoa(size))
			}
			if end != "reader" {
				args = append(args, "--sndbuf", strconv.Itoa(size))
			}
			var st struct{ Plain, Bypass stream }
			decode(b.sockshim(args...), &st)
			b.s.add(sweepKey(end, size)+"/plain", st.Plain.MBPerS)
			b.s.add(sweepKey(end, size)+"/bypass", st.Bypass.MBPerS)
			b.s.add(sweepKey(end, size)+"/retransmits", st.Bypass.Retransmits)
			// TCP carried every byte: the bypass kept the connection off
			// the map (a small SO_RCVBUF), so both runs were plain TCP.
			offMap := 0.0
			if st.Bypass.NormalPathBytes >= st.Bypass.Bytes {
				offMap = 1
			}
			b.s.add(sweepKey(end, size)+"/off-map", offMap)
		}
	}
}
