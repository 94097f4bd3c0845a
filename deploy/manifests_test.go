// Package deploy holds the Kubernetes manifests and runtime configuration
// snippets; its test keeps them valid.
package deploy

import (
	"bytes"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/sockshim/sockshim/internal/group"
	"github.com/sockshim/sockshim/internal/nriplugin"
	"github.com/sockshim/sockshim/oci"
)

// documents splits a multi-document YAML file.
func documents(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, d := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

// daemonSet parses the DaemonSet of kubernetes/daemonset.yaml.
func daemonSet(t *testing.T) appsv1.DaemonSet {
	t.Helper()
	docs := documents(t, "kubernetes/daemonset.yaml")
	if len(docs) != 2 {
		t.Fatalf("%d documents, want a Namespace and a DaemonSet", len(docs))
	}
	var ns corev1.Namespace
	if err := yaml.UnmarshalStrict(docs[0], &ns); err != nil || ns.Kind != "Namespace" {
		t.Fatalf("namespace: %v (%s)", err, ns.Kind)
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(docs[1], &ds); err != nil {
		t.Fatalf("daemonset: %v", err)
	}
	return ds
}

func TestDaemonSetManifest(t *testing.T) {
	ds := daemonSet(t)
	spec := ds.Spec.Template.Spec
	if ds.Kind != "DaemonSet" || !spec.HostPID || !spec.HostNetwork {
		t.Fatalf("want a DaemonSet with hostPID and hostNetwork: %+v", ds.TypeMeta)
	}
	if ds.Spec.Selector == nil || ds.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != ds.Spec.Template.Labels["app.kubernetes.io/name"] {
		t.Fatal("the selector does not match the template's labels")
	}
	c := spec.Containers[0]
	if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
		t.Fatal("the plugin container must be privileged")
	}
	if !strings.Contains(strings.Join(c.Command, " "), "sockshim nri") {
		t.Fatalf("command %v does not run sockshim nri", c.Command)
	}
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		if hostPaths[m.Name] != m.MountPath {
			t.Errorf("volume %s: host path %q mounted at %q", m.Name, hostPaths[m.Name], m.MountPath)
		}
		mounted[m.MountPath] = true
	}
	for _, p := range []string{"/sys/fs/bpf", "/sys/fs/cgroup", "/var/run/nri", "/run/sockshim"} {
		if !mounted[p] {
			t.Errorf("%s is not mounted from the host", p)
		}
	}
}

func TestExamplePods(t *testing.T) {
	docs := documents(t, "kubernetes/example-pods.yaml")
	if len(docs) != 2 {
		t.Fatalf("%d pods, want 2", len(docs))
	}
	for _, d := range docs {
		var pod corev1.Pod
		if err := yaml.UnmarshalStrict(d, &pod); err != nil {
			t.Fatal(err)
		}
		if !pod.Spec.HostNetwork {
			t.Errorf("%s is not on the host network", pod.Name)
		}
		ports, _, err := oci.ParsePorts(pod.Annotations[oci.AnnotationPorts])
		if err != nil || len(ports) != 1 || ports[0].Port != 8080 {
			t.Errorf("%s: %s=%q: %v", pod.Name, oci.AnnotationPorts, pod.Annotations[oci.AnnotationPorts], err)
		}
		for key, value := range pod.Annotations {
			if strings.HasPrefix(key, oci.AnnotationPorts+"/container.") {
				if _, _, err := oci.ParsePorts(value); err != nil {
					t.Errorf("%s: %s: %v", pod.Name, key, err)
				}
			}
		}
	}
}

func TestRuntimeSnippetsEnableNRI(t *testing.T) {
	for path, want := range map[string]string{
		"runtime/containerd-config.toml": `[plugins."io.containerd.nri.v1.nri"]`,
		"runtime/crio-nri.conf":          "enable_nri = true",
	} {
		data, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(data), want) || !strings.Contains(string(data), "/var/run/nri/nri.sock") {
			t.Errorf("%s does not enable NRI on /var/run/nri/nri.sock (%v)", path, err)
		}
	}
}

// The plugin serves its metrics where the pod's prometheus.io annotations
// send Prometheus: the port of --metrics-address, declared as the
// container's metrics port, outside the host port pool (with hostNetwork
// the port is the node's), and the plugin's metrics path.
func TestDaemonSetServesMetrics(t *testing.T) {
	ds := daemonSet(t)
	c := ds.Spec.Template.Spec.Containers[0]
	var addr string
	for i, arg := range c.Command {
		if arg == "--metrics-address" && i+1 < len(c.Command) {
			addr = c.Command[i+1]
		}
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("command %v: --metrics-address %q: %v", c.Command, addr, err)
	}
	a := ds.Spec.Template.Annotations
	if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != port || a["prometheus.io/path"] != nriplugin.MetricsPath {
		t.Errorf("annotations %v, want prometheus.io/scrape true, /port %s, /path %s", a, port, nriplugin.MetricsPath)
	}
	n, _ := strconv.Atoi(port)
	declared := false
	for _, p := range c.Ports {
		declared = declared || p.Name == "metrics" && int(p.ContainerPort) == n && p.Protocol == corev1.ProtocolTCP
	}
	if !declared {
		t.Errorf("ports %v do not declare metrics on %d/TCP", c.Ports, n)
	}
	if pool := group.DefaultPool; n >= int(pool.Low) && n <= int(pool.High) {
		t.Errorf("metrics port %d is in the host port pool %s", n, pool)
	}
}
