package nriplugin

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/records"
)

var containerLabelNames = []string{"container_id", "pod", "namespace", "container"}

func containerDesc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, slices.Concat(containerLabelNames, extra), nil)
}

// The per-container metrics, read at scrape time: the records for what is
// set up, the kernel's per-group counters for what the bypass did (the
// same sources as `sockshim ls`).
var (
	descRedirectedBytes = containerDesc("sockshim_container_redirected_bytes_total",
		"Bytes the container's sockets sent through the loopback bypass redirect (containers with the bypass).")
	descRedirectedMessages = containerDesc("sockshim_container_redirected_messages_total",
		"Messages (sends) the container's sockets passed through the loopback bypass redirect (containers with the bypass).")
	descNormalPath = containerDesc("sockshim_container_normal_path_switches_total",
		"Times a socket of the container went back to the normal path because its peer's queue was full (containers with the bypass).")
	descLeftMap = containerDesc("sockshim_container_left_map_total",
		"Sockets of the container that left the bypass after joining it: they began reading the blocking way, their connection's buffers were set small at both ends, or their peer left (containers with the bypass).")
	// One series per mapping, value 1: the host port is what an operator
	// looks for and a label is the only place for it; count() gives the
	// number of mappings.
	descPort = containerDesc("sockshim_container_port_mapping_info",
		"A port mapping of the container: its port, the host port behind it, the protocol; always 1.", "proto", "port", "host_port")
)

// containerCollector reports the plugin's containers from the records and
// the kernel. It opens the pinned maps read-only at each scrape rather than
// sharing the plugin's handle: the handle's cache of open maps is not for
// concurrent use, and a fresh one also sees maps re-pinned by `sockshim
// reset`.
type containerCollector struct {
	store  *records.Store
	bpffs  string
	labels *containerLabels
}

func (c *containerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRedirectedBytes, descRedirectedMessages, descNormalPath, descLeftMap, descPort} {
		ch <- d
	}
}

func (c *containerCollector) Collect(ch chan<- prometheus.Metric) {
	recs, err := c.store.List()
	if err != nil { // List returns the records it could read beside the error
		ch <- prometheus.NewInvalidMetric(descPort, fmt.Errorf("list records: %w", err))
	}
	k, err := bpf.OpenMaps(c.bpffs) // k is nil on error: no counters
	switch {
	case err == nil:
		defer k.Close()
	case errors.Is(err, os.ErrNotExist): // nothing loaded yet, nothing counted
	default:
		ch <- prometheus.NewInvalidMetric(descRedirectedBytes, fmt.Errorf("open the pinned maps under %s: %w", c.bpffs, err))
	}
	for _, r := range recs {
		if r.Kind != Kind {
			continue // the OCI hook's and sockshim run's groups are not the plugin's
		}
		n := c.labels.get(r.ID)
		labels := []string{r.ID, n.pod, n.namespace, n.container}
		for _, m := range r.Ports {
			ch <- prometheus.MustNewConstMetric(descPort, prometheus.GaugeValue, 1,
				slices.Concat(labels, []string{m.Proto, strconv.Itoa(int(m.Port)), strconv.Itoa(int(m.HostPort))})...)
		}
		if k != nil && r.Bypass {
			collectCounters(ch, k, r, labels)
		}
	}
}

func collectCounters(ch chan<- prometheus.Metric, k *bpf.Kernel, r *records.Record, labels []string) {
	cnt, err := k.Counters(r.CgroupID)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descRedirectedBytes, fmt.Errorf("counters of container %s: %w", r.ID, err))
		return
	}
	for _, v := range []struct {
		d *prometheus.Desc
		n uint64
	}{{descRedirectedBytes, cnt.Bytes}, {descRedirectedMessages, cnt.Messages}, {descNormalPath, cnt.NormalPath}, {descLeftMap, cnt.LeftMap}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n), labels...)
	}
}
