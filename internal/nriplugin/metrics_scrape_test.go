package nriplugin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// serveMetrics gives the next plugin metrics served on a free loopback port
// and returns their URL.
func (r *testRuntime) serveMetrics() string {
	t := r.t
	t.Helper()
	m, err := NewMetrics(MetricsConfig{Store: r.store, BPFFS: r.bpffs, Log: slog.New(slog.NewTextHandler(r.log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addr, err := m.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.metrics = m
	return "http://" + addr.String() + MetricsPath
}

// sample is one line of the text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape GETs url as Prometheus does and parses the text format (label
// values here never hold quotes, commas or escapes).
func scrape(t *testing.T, url string) []sample {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s: %s", resp.Status, body)
	}
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cut := strings.LastIndexByte(line, ' ')
		series, value := line[:cut], line[cut+1:]
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("scrape: line %q: %v", line, err)
		}
		s := sample{name: series, labels: map[string]string{}, value: v}
		if i := strings.IndexByte(series, '{'); i >= 0 {
			s.name = series[:i]
			for _, kv := range strings.Split(strings.TrimSuffix(series[i+1:], "}"), ",") {
				k, v, _ := strings.Cut(kv, "=")
				s.labels[k] = strings.Trim(v, `"`)
			}
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return out
}

// find returns the samples named name whose labels include want's.
func find(samples []sample, name string, want map[string]string) []sample {
	var out []sample
	for _, s := range samples {
		if s.name != name {
			continue
		}
		match := true
		for k, v := range want {
			match = match && s.labels[k] == v
		}
		if match {
			out = append(out, s)
		}
	}
	return out
}

// value is the one sample name{want...}, failing the test when there is
// not exactly one.
func value(t *testing.T, samples []sample, name string, want map[string]string) float64 {
	t.Helper()
	got := find(samples, name, want)
	if len(got) != 1 {
		t.Fatalf("%s%v: %d samples, want 1: %v", name, want, len(got), got)
	}
	return got[0].value
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// ofContainer is the label set that names c.
func ofContainer(c *container) map[string]string {
	return labels("container_id", c.api.Id, "pod", c.pod.Name, "namespace", c.pod.Namespace, "container", c.api.Name)
}

func with(m map[string]string, kv ...string) map[string]string {
	out := labels(kv...)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func checkCount(t *testing.T, samples []sample, name string, want float64, kv ...string) {
	t.Helper()
	if got := value(t, samples, name, labels(kv...)); got != want {
		t.Errorf("%s%v = %v, want %v", name, kv, got, want)
	}
}

func portSeries(c *container, port, hostPort uint16) map[string]string {
	return with(ofContainer(c), "proto", "tcp", "port", fmt.Sprint(port), "host_port", fmt.Sprint(hostPort))
}
