package critest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Crictl runs crictl against this containerd (its runtime and image
// endpoint set in Dir/crictl.yaml) and returns its stdout; a failure's error
// has its stderr, where crictl prints the runtime's message.
func (c *Containerd) Crictl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.bin, "crictl"), append([]string{"--config", c.path("crictl.yaml")}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("crictl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// PodConfig is testdata/cri/pod.json: a host-network pod sandbox, in the
// JSON crictl runp reads.
type PodConfig struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
		Attempt   int    `json:"attempt"`
	} `json:"metadata"`
	Annotations  map[string]string `json:"annotations"`
	LogDirectory string            `json:"log_directory"`
	Linux        struct {
		CgroupParent    string          `json:"cgroup_parent"`
		SecurityContext json.RawMessage `json:"security_context"`
	} `json:"linux"`
}

// ContainerConfig is testdata/cri/container.json: busybox httpd serving
// /www on 8080, with the host's /usr read-only, in the JSON crictl create
// reads.
type ContainerConfig struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Image struct {
		Image string `json:"image"`
	} `json:"image"`
	Command     []string          `json:"command"`
	Envs        []KeyValue        `json:"envs"`
	Mounts      []Mount           `json:"mounts"`
	Annotations map[string]string `json:"annotations"`
	LogPath     string            `json:"log_path"`
	Linux       json.RawMessage   `json:"linux"`
}

type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type Mount struct {
	ContainerPath string `json:"container_path"`
	HostPath      string `json:"host_path"`
	Readonly      bool   `json:"readonly"`
}

// Mount adds a read-only bind mount of the host's path at ctrPath.
func (cc *ContainerConfig) Mount(host, ctrPath string) {
	cc.Mounts = append(cc.Mounts, Mount{ContainerPath: ctrPath, HostPath: host, Readonly: true})
}

// Env adds an environment variable.
func (cc *ContainerConfig) Env(key, value string) {
	cc.Envs = append(cc.Envs, KeyValue{key, value})
}

// readConfig decodes testdata/cri/NAME strictly, so that the file and the
// type stay in step.
func (c *Containerd) readConfig(name string, v any) {
	data, err := os.ReadFile(RepoFile(c.t, "testdata/cri/"+name))
	if err != nil {
		c.t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		c.t.Fatalf("testdata/cri/%s: %v", name, err)
	}
}

func (c *Containerd) writeJSON(name string, v any) string {
	data, _ := json.MarshalIndent(v, "", "  ")
	p := c.path(name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// Pod is a pod sandbox started through CRI.
type Pod struct {
	c      *Containerd
	ID     string
	Name   string
	config string // its config file, which crictl create wants again
}

// RunPod starts a host-network pod named name with these annotations, in
// the test's cgroup (cgroup_parent).
func (c *Containerd) RunPod(name string, annotations map[string]string) *Pod {
	c.t.Helper()
	var cfg PodConfig
	c.readConfig("pod.json", &cfg)
	cfg.Metadata.Name, cfg.Metadata.UID = name, name
	for k, v := range annotations {
		cfg.Annotations[k] = v
	}
	cfg.LogDirectory = c.path("logs/" + name)
	cfg.Linux.CgroupParent = c.PodCgroup
	p := &Pod{c: c, Name: name, config: c.writeJSON("pod-"+name+".json", &cfg)}
	out, err := c.Crictl("runp", p.config)
	if err != nil {
		c.t.Fatalf("%v\n%s", err, out)
	}
	p.ID = lastLine(out)
	return p
}

// Container is testdata/cri/container.json named name, logging to NAME.log
// in the pod's log directory.
func (p *Pod) Container(name string) *ContainerConfig {
	var cfg ContainerConfig
	p.c.readConfig("container.json", &cfg)
	cfg.Metadata.Name, cfg.LogPath = name, name+".log"
	return &cfg
}

// Create creates the container in the pod; the error carries crictl's
// output (which has the runtime's, and its NRI plugins', message).
func (p *Pod) Create(cfg *ContainerConfig) (string, error) {
	path := p.c.writeJSON("ctr-"+p.Name+"-"+cfg.Metadata.Name+".json", cfg)
	out, err := p.c.Crictl("create", p.ID, path, p.config)
	if err != nil {
		return "", err
	}
	return lastLine(out), nil
}

// Start creates and starts the container and returns its id.
func (p *Pod) Start(cfg *ContainerConfig) string {
	p.c.t.Helper()
	id, err := p.Create(cfg)
	if err != nil {
		p.c.t.Fatal(err)
	}
	if out, err := p.c.Crictl("start", id); err != nil {
		p.c.t.Fatalf("%v\n%s", err, out)
	}
	return id
}

// Exec runs argv in the container (crictl exec --sync) and returns its
// output.
func (c *Containerd) Exec(id string, argv ...string) (string, error) {
	return c.Crictl(append([]string{"exec", "--sync", "--timeout", "30", id}, argv...)...)
}

// lastLine is crictl's answer (an id) after any warnings it printed.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
