package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/critest"
)

// The NRI plugin under a real containerd 2.x, driven through CRI with crictl
// as the kubelet would drive it: host-network pods, images imported from a
// local archive (internal/critest). Each test has its own containerd and its
// own sockshim state (newCLI).

// criEnv is one test's containerd and `sockshim nri` connected to it.
type criEnv struct {
	*cli
	ctd       *critest.Containerd
	plugin    *exec.Cmd
	pluginEnd chan struct{}
	pluginLog string
}

func newCRI(t *testing.T, preRegistered bool) *criEnv {
	critest.Bin(t) // skips before anything is set up
	e := &criEnv{cli: newCLI(t), pluginLog: filepath.Join(t.TempDir(), "plugin.log")}
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(e.pluginLog)
			t.Logf("the plugin's log:\n%s", data)
		}
	})
	opts := critest.Options{CgroupParent: e.parent}
	if preRegistered {
		opts.Plugins = map[string]string{"10-sockshim": e.launcher()}
	}
	e.ctd = critest.Start(t, opts)
	if preRegistered {
		e.waitConfigured(0)
	} else {
		e.startPlugin()
	}
	// Cleanup runs last in first: the pods go while the plugin still runs,
	// then the plugin, then containerd (critest).
	t.Cleanup(func() { e.stopPlugin(syscall.SIGTERM) })
	t.Cleanup(func() { e.ctd.Crictl("rmp", "--all", "--force") })
	return e
}

// newCRIWithPlugin is a containerd with `sockshim nri` started by the test
// and connected to it.
func newCRIWithPlugin(t *testing.T) *criEnv { return newCRI(t, false) }

// launcher is the pre-registered plugin file: containerd starts it with
// only NRI's variables in the environment, so the sockshim binary itself
// would take the host's real bpffs and state directory; this test's come
// from here.
func (e *criEnv) launcher() string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	for _, kv := range e.env() {
		if strings.HasPrefix(kv, "SOCKSHIM_") {
			k, v, _ := strings.Cut(kv, "=")
			fmt.Fprintf(&b, "export %s='%s'\n", k, v)
		}
	}
	fmt.Fprintf(&b, "export SOCKSHIM_LOG_LEVEL=info\nexec '%s' nri 2>>'%s'\n", sockshimBin, e.pluginLog)
	return b.String()
}

// startPlugin starts `sockshim nri` on containerd's NRI socket with this
// test's state, and waits until containerd has configured it; newCRI's
// cleanup stops it.
func (e *criEnv) startPlugin() {
	t := e.t
	t.Helper()
	before := e.configured()
	logf, err := os.OpenFile(e.pluginLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := e.cmd("nri", "--socket", e.ctd.NRISocket, "--metrics-address", "127.0.0.1:0")
	cmd.Env = append(cmd.Env, "SOCKSHIM_LOG_LEVEL=info")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sockshim nri: %v", err)
	}
	end := make(chan struct{})
	go func() { cmd.Wait(); close(end) }()
	e.plugin, e.pluginEnd = cmd, end
	e.waitConfigured(before)
}

// metricsURL is where the plugin last said it serves its metrics.
func (e *criEnv) metricsURL() string {
	e.t.Helper()
	data, _ := os.ReadFile(e.pluginLog)
	i := strings.LastIndex(string(data), `msg="serving metrics" address=`)
	if i < 0 {
		e.t.Fatalf("the plugin logged no metrics address:\n%s", data)
	}
	addr := strings.Fields(string(data)[i+len(`msg="serving metrics" address=`):])[0]
	return "http://" + addr + "/metrics"
}

// metric is the value of the sample of NAME whose labels include
// container_id="ID" in a scrape of the plugin (0 when there is none).
func (e *criEnv) metric(name, id string) float64 {
	e.t.Helper()
	resp, err := http.Get(e.metricsURL())
	if err != nil {
		e.t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("scrape: %s, %v", resp.Status, err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, `container_id="`+id+`"`) {
			v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
			if err != nil {
				e.t.Fatalf("scrape: sample %q: %v", line, err)
			}
			return v
		}
	}
	return 0
}

// configured counts the plugin's "configured" lines: one per connection
// that containerd accepted.
func (e *criEnv) configured() int {
	data, _ := os.ReadFile(e.pluginLog)
	return strings.Count(string(data), "msg=configured")
}

func (e *criEnv) waitConfigured(before int) {
	e.t.Helper()
	waitFor(e.t, "the plugin connected to containerd", func() bool { return e.configured() > before })
}

// stopPlugin stops the plugin by its PID and waits for it.
func (e *criEnv) stopPlugin(sig syscall.Signal) {
	if e.plugin == nil {
		return
	}
	e.plugin.Process.Signal(sig)
	select {
	case <-e.pluginEnd:
	case <-time.After(10 * time.Second):
		e.t.Errorf("sockshim nri did not stop on %v in 10 s: killing it", sig)
		e.plugin.Process.Kill()
		<-e.pluginEnd
	}
	e.plugin = nil
}

// serve runs a pod NAME whose container httpd serves "NAME" at /who on
// 8080, and returns the container's id.
func (e *criEnv) serve(name string, annotations map[string]string) string {
	pod := e.ctd.RunPod(name, annotations)
	ctr := pod.Container("httpd")
	ctr.Mount(wwwDir(e.t, name), "/www")
	return pod.Start(ctr)
}

// hostPort is `sockshim port ID PORT`'s host port.
func (e *criEnv) hostPort(id string, port int) string {
	e.t.Helper()
	out, errOut, code := e.run("port", id, fmt.Sprint(port))
	if code != 0 {
		e.t.Fatalf("sockshim port %s %d: exit %d: %s", id, port, code, errOut)
	}
	_, hostPort, _ := strings.Cut(strings.TrimSpace(out), ":")
	return hostPort
}

// servesOnHost waits until the host reaches who at 127.0.0.1:hostPort.
func servesOnHost(t *testing.T, hostPort, who string) {
	t.Helper()
	url := "http://127.0.0.1:" + hostPort + "/who"
	waitFor(t, who+" on host port "+hostPort, func() bool { got, err := hostFetch(url); return err == nil && got == who })
}

// nriEntry is the ls entry of container id, which must be the plugin's.
func (e *criEnv) nriEntry(id string) lsEntry {
	e.t.Helper()
	entry, ok := entryFor(e.ls(), id)
	if !ok || entry.Kind != "nri" {
		e.t.Fatalf("sockshim ls has no nri entry for %.12s (is the plugin connected?): %+v", id, e.ls())
	}
	return entry
}

func TestCRITwoPodsShare8080(t *testing.T) {
	e := newCRIWithPlugin(t)
	ann := map[string]string{"io.sockshim.ports": "8080"}
	ids := map[string]string{"pod-a": e.serve("pod-a", ann), "pod-b": e.serve("pod-b", ann)}
	hostPorts := map[string]bool{}
	for name, id := range ids {
		entry := e.nriEntry(id)
		if len(entry.Ports) != 1 || entry.Ports[0].Port != 8080 {
			t.Fatalf("%s: ls shows ports %+v, want 8080", name, entry.Ports)
		}
		hp := e.hostPort(id, 8080)
		if hostPorts[hp] {
			t.Fatalf("%s: host port %s is shared", name, hp)
		}
		hostPorts[hp] = true
		servesOnHost(t, hp, name)
		// Inside, 8080 is the pod's own.
		if out, err := e.ctd.Exec(id, "wget", "-qO-", "http://127.0.0.1:8080/who"); err != nil || strings.TrimSpace(out) != name {
			t.Errorf("inside %s, 127.0.0.1:8080 gave %q (%v)", name, out, err)
		}
	}
}

// helperContainer runs command in the pod, with this test binary at
// /helper/test for the helper commands of internal/testenv.
func (e *criEnv) helperContainer(pod *critest.Pod, name string, command ...string) *critest.ContainerConfig {
	ctr := pod.Container(name)
	ctr.Mount(testBinary(e.t), "/helper/test")
	ctr.Env("SOCKSHIM_TESTENV_HELPER", "1")
	ctr.Command = command
	return ctr
}

func TestCRIBypassBetweenPods(t *testing.T) {
	e := newCRIWithPlugin(t)
	const size = 4 << 20
	ann := map[string]string{"io.sockshim.ports": "8080", "io.sockshim.bypass": "true"}
	serverPod := e.ctd.RunPod("server", ann)
	server := serverPod.Start(e.helperContainer(serverPod, "server", "/helper/test", "exchange", "listen", "0.0.0.0:8080", fmt.Sprint(size), "1"))
	clientPod := e.ctd.RunPod("client", map[string]string{"io.sockshim.bypass": "true"})
	client := clientPod.Start(e.helperContainer(clientPod, "client", "sleep", "3600"))
	hp := e.hostPort(server, 8080)
	before := e.metric("sockshim_container_redirected_bytes_total", client)
	// The server prints its address once it listens.
	waitFor(t, "the server listening", func() bool { out, _ := e.ctd.Crictl("logs", server); return strings.Contains(out, "addr") })
	out, err := e.ctd.Exec(client, "/helper/test", "exchange", "dial", "127.0.0.1:"+hp, fmt.Sprint(size), "2")
	if err != nil {
		t.Fatalf("client exchange: %v\n%s", err, out)
	}
	var sent, got exchangeResult
	lastJSON(t, out, &sent)
	waitFor(t, "the server's result", func() bool { out, _ := e.ctd.Crictl("logs", server); return strings.Contains(out, "recv_sha") })
	logs, _ := e.ctd.Crictl("logs", server)
	lastJSON(t, logs, &got)
	if sent.Sent != size || got.Recv != size || sent.SentSHA != got.RecvSHA || got.SentSHA != sent.RecvSHA {
		t.Errorf("bytes changed on the way: client %+v, server %+v", sent, got)
	}
	if entry := e.nriEntry(client); entry.RedirectedBytes == 0 {
		t.Errorf("the client's bytes were not redirected: %+v", entry)
	} else {
		// Not all: the bypass hands a socket back to TCP while its peer's
		// queue is full (normal_path_switches).
		t.Logf("the client's %d bytes: %d redirected, %d switches to the normal path", size, entry.RedirectedBytes, entry.NormalPathSwitches)
		// The plugin's metrics read the same counters.
		after := e.metric("sockshim_container_redirected_bytes_total", client)
		t.Logf("sockshim_container_redirected_bytes_total of the client: %.0f before, %.0f after", before, after)
		if after <= before || after < float64(entry.RedirectedBytes) {
			t.Errorf("metrics: redirected bytes %.0f before the exchange, %.0f after; sockshim ls says %d", before, after, entry.RedirectedBytes)
		}
	}
}

func TestCRIBadAnnotationRefused(t *testing.T) {
	e := newCRIWithPlugin(t)
	pod := e.ctd.RunPod("bad", map[string]string{"io.sockshim.ports": "0"})
	_, err := pod.Create(pod.Container("httpd"))
	if err == nil {
		t.Fatal("containerd created a container whose io.sockshim.ports is 0")
	}
	// The runtime's error is the plugin's: it names the annotation and the
	// item (crictl prints it quoted, its quotes escaped).
	if msg := strings.ReplaceAll(err.Error(), `\"`, `"`); !strings.Contains(msg, "io.sockshim.ports") || !strings.Contains(msg, `item "0"`) {
		t.Errorf("the error does not name io.sockshim.ports and its item \"0\": %v", err)
	} else {
		t.Logf("crictl create: %v", err)
	}
	if left := e.ls(); len(left) != 0 {
		t.Errorf("records of a refused container: %+v", left)
	}
}

func TestCRIContainerOverride(t *testing.T) {
	e := newCRIWithPlugin(t)
	pod := e.ctd.RunPod("override", map[string]string{"io.sockshim.ports": "8080", "io.sockshim.ports/container.special": "9090"})
	plain, special := pod.Container("plain"), pod.Container("special")
	plain.Command, special.Command = []string{"sleep", "3600"}, []string{"sleep", "3600"}
	want := map[string]uint16{pod.Start(plain): 8080, pod.Start(special): 9090}
	for id, port := range want {
		if entry := e.nriEntry(id); len(entry.Ports) != 1 || entry.Ports[0].Port != port {
			t.Errorf("%.12s: ports %+v, want only %d", id, entry.Ports, port)
		}
	}
}

func TestCRIPluginRestart(t *testing.T) {
	e := newCRIWithPlugin(t)
	ann := map[string]string{"io.sockshim.ports": "8080"}
	running := e.serve("running", ann)
	before := e.nriEntry(running)
	e.stopPlugin(syscall.SIGKILL)
	// Created and started while the plugin is away: containerd runs it
	// untreated.
	latePod := e.ctd.RunPod("late", ann)
	lateCtr := latePod.Container("httpd")
	lateCtr.Mount(wwwDir(t, "late"), "/www")
	lateCtr.Command = []string{"sleep", "3600"}
	late := latePod.Start(lateCtr)
	if _, ok := entryFor(e.ls(), late); ok {
		t.Fatal("a container started while the plugin was down has a record")
	}
	e.startPlugin()
	// Synchronize: the running container untouched, the late one set up.
	if after := e.nriEntry(running); fmt.Sprint(after.Ports) != fmt.Sprint(before.Ports) || after.Cgroup != before.Cgroup {
		t.Errorf("the restart changed %.12s: %+v, was %+v", running, after, before)
	}
	servesOnHost(t, e.hostPort(running, 8080), "running")
	e.nriEntry(late)
	// A server the late pod starts now gets its mapping.
	if out, err := e.ctd.Exec(late, "sh", "-c", "httpd -p 8080 -h /www </dev/null >/dev/null 2>&1"); err != nil {
		t.Fatalf("start httpd in the late pod: %v\n%s", err, out)
	}
	servesOnHost(t, e.hostPort(late, 8080), "late")
}

func TestCRIPodRemovalLeavesNothing(t *testing.T) {
	e := newCRIWithPlugin(t)
	id := e.serve("gone", map[string]string{"io.sockshim.ports": "8080", "io.sockshim.bypass": "true"})
	cg := e.nriEntry(id).Cgroup
	pods, err := e.ctd.Crictl("pods", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	pod := strings.TrimSpace(pods)
	if out, err := e.ctd.Crictl("stopp", pod); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Stopped: no record, no link.
	checkNothingLeft(t, e.cli)
	if out, err := e.ctd.Crictl("rmp", pod); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Removed: no cgroup either (runc removes it; sockshim must not keep it
	// alive with an attached program).
	if _, err := os.Stat(cg); !os.IsNotExist(err) {
		t.Errorf("the container's cgroup %s is still there (%v)", cg, err)
	}
	checkNothingLeft(t, e.cli)
}

func TestCRIContainerdRestart(t *testing.T) {
	e := newCRIWithPlugin(t)
	ann := map[string]string{"io.sockshim.ports": "8080"}
	first := e.serve("first", ann)
	before := e.nriEntry(first)
	e.ctd.Stop()
	// The NRI stub does not redial: sockshim nri exits when its runtime goes
	// away, and its DaemonSet (restartPolicy Always) starts it again. This
	// test does the same once containerd is back; a plugin that stayed must
	// have reconnected by itself.
	exited := false
	select {
	case <-e.pluginEnd:
		exited = true
		t.Logf("sockshim nri exited with status %d when containerd went away", e.plugin.ProcessState.ExitCode())
		e.plugin = nil
	case <-time.After(10 * time.Second):
	}
	configured := e.configured()
	e.ctd.Start()
	if exited {
		e.startPlugin()
	} else {
		e.waitConfigured(configured)
	}
	// The pod ran on through the restart, its mapping with it.
	if after := e.nriEntry(first); fmt.Sprint(after.Ports) != fmt.Sprint(before.Ports) {
		t.Errorf("the restart changed %.12s's ports: %v, were %v", first, after.Ports, before.Ports)
	}
	servesOnHost(t, e.hostPort(first, 8080), "first")
	second := e.serve("second", ann)
	servesOnHost(t, e.hostPort(second, 8080), "second")
}

func TestCRIPreRegisteredPlugin(t *testing.T) {
	// 10-sockshim in containerd's plugin_path: containerd starts it and
	// hands it its connection; the test starts no plugin.
	e := newCRI(t, true)
	id := e.serve("pre", map[string]string{"io.sockshim.ports": "8080"})
	e.nriEntry(id)
	servesOnHost(t, e.hostPort(id, 8080), "pre")
}
