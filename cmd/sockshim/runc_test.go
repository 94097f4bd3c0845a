package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/internal/testenv"
)

// runcEnv runs containers with plain runc, its state under a private root.
type runcEnv struct {
	*cli
	root string
}

func newRunc(t *testing.T) *runcEnv {
	requireTool(t, "runc")
	r := &runcEnv{cli: newCLI(t), root: t.TempDir()}
	return r
}

func (r *runcEnv) runc(args ...string) (string, error) {
	out, err := exec.Command("runc", append([]string{"--root", r.root}, args...)...).CombinedOutput()
	return string(out), err
}

// bundle makes an OCI bundle on the host network running args, with the
// given annotations, www served from wwwDir, and sockshim's hooks injected.
func (r *runcEnv) bundle(id string, annotations map[string]string, www string, args ...string) string {
	t := r.t
	dir := filepath.Join(t.TempDir(), id)
	makeRootfs(t, filepath.Join(dir, "rootfs"))
	if out, err := exec.Command("runc", "spec", "--bundle", dir).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	var spec map[string]any
	data, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	json.Unmarshal(data, &spec)
	process := spec["process"].(map[string]any)
	process["terminal"] = false
	process["args"] = args
	process["env"] = append(process["env"].([]any), "SOCKSHIM_TESTENV_HELPER=1")
	linux := spec["linux"].(map[string]any)
	var namespaces []any
	for _, ns := range linux["namespaces"].([]any) {
		if ns.(map[string]any)["type"] != "network" {
			namespaces = append(namespaces, ns) // the host network
		}
	}
	linux["namespaces"] = namespaces
	bind := func(src, dst string) map[string]any {
		return map[string]any{"destination": dst, "type": "bind", "source": src, "options": []string{"rbind", "ro"}}
	}
	spec["mounts"] = append(spec["mounts"].([]any), bind("/usr", "/usr"), bind(www, "/www"), bind(testBinary(t), "/helper/test"))
	spec["annotations"] = annotations
	data, _ = json.MarshalIndent(spec, "", " ")
	os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
	if _, errOut, code := r.run("inject", dir); code != 0 {
		t.Fatalf("sockshim inject: %s", errOut)
	}
	return dir
}

// start runs the bundle detached; its output goes to a log file.
func (r *runcEnv) start(id, bundle string) (logPath string) {
	t := r.t
	logPath = filepath.Join(t.TempDir(), id+".log")
	logf, _ := os.Create(logPath)
	defer logf.Close()
	cmd := exec.Command("runc", "--root", r.root, "run", "-d", "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		data, _ := os.ReadFile(logPath)
		t.Fatalf("runc run %s: %v\n%s", id, err, data)
	}
	t.Cleanup(func() {
		r.runc("kill", id, "KILL")
		r.runc("delete", "-f", id)
	})
	return logPath
}

func TestRuncTwoContainersShare3000(t *testing.T) {
	r := newRunc(t)
	ann := map[string]string{"io.sockshim.ports": "3000"}
	ids := []string{"sockshim-runc-a", "sockshim-runc-b"}
	for _, id := range ids {
		r.start(id, r.bundle(id, ann, wwwDir(t, id), "httpd", "-f", "-p", "3000", "-h", "/www"))
	}
	entries := r.ls()
	hosts := map[uint16]bool{}
	for _, id := range ids {
		e, ok := entryFor(entries, id)
		if !ok || e.Kind != "container" || len(e.Ports) != 1 || e.Ports[0].Port != 3000 {
			t.Fatalf("ls has no container %s with 3000: %+v", id, entries)
		}
		h := e.Ports[0].HostPort
		if h < 24000 || h > 27999 || hosts[h] { // this package's pool (main_test.go)
			t.Fatalf("%s: host port %d is outside the pool or shared", id, h)
		}
		hosts[h] = true
		url := fmt.Sprintf("http://127.0.0.1:%d/who", h)
		waitFor(t, id+" serving on its host port", func() bool { got, err := hostFetch(url); return err == nil && got == id })
		out, err := r.runc("exec", id, "wget", "-qO-", "http://127.0.0.1:3000/who")
		if err != nil || strings.TrimSpace(out) != id {
			t.Errorf("inside %s, 127.0.0.1:3000 gave %q (%v)", id, out, err)
		}
		// The pins (mappings, links) live on the host: nothing of them is
		// visible from inside, so a container can neither read nor change
		// another's mappings.
		if out, _ := r.runc("exec", id, "ls", "/sys/fs/bpf"); strings.Contains(out, "sockshim") || strings.Contains(out, "groups") {
			t.Errorf("inside %s, /sys/fs/bpf shows %q", id, out)
		}
	}
	for _, id := range ids {
		e, _ := entryFor(entries, id)
		if out, err := r.runc("kill", id, "KILL"); err != nil {
			t.Fatalf("runc kill: %v: %s", err, out)
		}
		waitFor(t, id+" stopped", func() bool { out, _ := r.runc("state", id); return strings.Contains(out, `"stopped"`) })
		if out, err := r.runc("delete", id); err != nil {
			t.Fatalf("runc delete: %v: %s", err, out)
		}
		if n, _ := testenv.AttachedPrograms(e.Cgroup); n != 0 {
			t.Errorf("%s: %d programs still attached", id, n)
		}
	}
	checkNothingLeft(t, r.cli)
}
