package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// report renders the medians, the machine, and the targets as Markdown.
func (b *bench) report(rounds int) string {
	m := b.s.median
	var w strings.Builder
	kernel, _ := exec.Command("uname", "-r").Output()
	fmt.Fprintf(&w, "# sockshim benchmark results\n\n")
	fmt.Fprintf(&w, "`make bench` on %s: kernel %s, %s, %d CPUs. Medians of %d interleaved rounds.\n",
		time.Now().UTC().Format("2006-01-02"), strings.TrimSpace(string(kernel)), cpuModel(), numCPU(), rounds)
	fmt.Fprintf(&w, "Placement: every client and server pinned to CPU 0 (in a VM a wakeup across CPUs costs more than the loopback path), each `sockshim bench` end leading its own session, as a runc container's first process does (`--one-session` for both in one).\n\n")

	fmt.Fprintf(&w, "## Round-trip time, one connection, requests echoed in full (µs)\n\n")
	fmt.Fprintf(&w, "| request | plain loopback mean / p99 | bypass mean / p99 | AF_UNIX mean / p99 | bypass/plain mean | bypass/plain p99 | bypass/unix mean |\n|---|---|---|---|---|---|---|\n")
	for _, size := range []int{64, 1024, 16384} {
		k := func(v, s string) float64 { return m(fmt.Sprintf("rtt%d/%s/%s", size, v, s)) }
		fmt.Fprintf(&w, "| %d B | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f | %.2f | %.2f | %.2f |\n", size,
			k("plain", "mean"), k("plain", "p99"), k("bypass", "mean"), k("bypass", "p99"), k("unix", "mean"), k("unix", "p99"),
			k("bypass", "mean")/k("plain", "mean"), k("bypass", "p99")/k("plain", "p99"), k("bypass", "mean")/k("unix", "mean"))
	}
	fmt.Fprintf(&w, "\nThe prototype reported 42.72 µs -> 39.32 µs (0.92) for 1 KiB on an ARM VM.\n\n")

	fmt.Fprintf(&w, "## Between two containers, 1 KiB requests (µs)\n\n| path | mean | p99 |\n|---|---|---|\n")
	for _, c := range []struct{ label, key string }{
		{"podman, host network, sockshim bypass", "containers/host+bypass"},
		{"podman, host network, no bypass", "containers/host"},
		{"podman, bridge network (netavark, veth)", "containers/bridge"},
		{"plain veth pair between two network namespaces", "veth"},
	} {
		fmt.Fprintf(&w, "| %s | %.2f | %.2f |\n", c.label, m(c.key+"/mean"), m(c.key+"/p99"))
	}

	fmt.Fprintf(&w, "\n## Throughput and connection rate\n\n| experiment | plain | bypass | bypass/plain |\n|---|---|---|---|\n")
	fmt.Fprintf(&w, "| one-way stream, 64 KiB writes (MB/s) | %.0f | %.0f | %.2f |\n", m("stream/plain"), m("stream/bypass"), m("stream/bypass")/m("stream/plain"))
	fmt.Fprintf(&w, "| connect+accept+close (per s) | %.0f | %.0f | %.2f |\n", m("connect/plain"), m("connect/bypass"), m("connect/bypass")/m("connect/plain"))
	fmt.Fprintf(&w, "| closed sockets not yet freed at the end of that run (slab count; README, \"Connection rate\") | %.0f | %.0f | |\n", m("connect/plain/not-freed"), m("connect/bypass/not-freed"))

	fmt.Fprintf(&w, "\n## One-way stream by socket buffer size (MB/s, bypass / plain, and the bypass's retransmissions)\n\n")
	fmt.Fprintf(&w, "SO_RCVBUF on the reader, SO_SNDBUF on the writer, or both; 1 s runs, 64 KiB writes.\n\n| buffer |")
	for _, end := range sweepEnds {
		fmt.Fprintf(&w, " %s |", end)
	}
	fmt.Fprintf(&w, "\n|---|")
	for range sweepEnds {
		fmt.Fprintf(&w, "---|")
	}
	fmt.Fprintf(&w, "\n")
	// The lowest ratio where the bypass carried the connection, and apart
	// the lowest where it kept it off the map (both runs plain TCP).
	minSweep, minOffMap := 0.0, 0.0
	for _, size := range sweepSizes {
		fmt.Fprintf(&w, "| %d KiB |", size>>10)
		for _, end := range sweepEnds {
			k := sweepKey(end, size)
			ratio := m(k+"/bypass") / m(k+"/plain")
			lowest, note := &minSweep, ""
			if m(k+"/off-map") >= 0.5 {
				lowest, note = &minOffMap, " off the map:"
			}
			if *lowest == 0 || ratio < *lowest {
				*lowest = ratio
			}
			fmt.Fprintf(&w, "%s %.0f / %.0f (%.2f), %.0f retr. |", note, m(k+"/bypass"), m(k+"/plain"), ratio, m(k+"/retransmits"))
		}
		fmt.Fprintf(&w, "\n")
	}
	if minOffMap != 0 {
		fmt.Fprintf(&w, "\n\"off the map\": the reader's SO_RCVBUF is set small, so the bypass leaves the connection to plain TCP (README, \"Which sockets the bypass carries\"); both runs of that cell are plain TCP.\n")
	}

	fmt.Fprintf(&w, "\n## Container start and hook latency (ms)\n\n| what | median |\n|---|---|\n")
	fmt.Fprintf(&w, "| `podman run --rm ... true`, host network, with the hook (ports and bypass) | %.1f |\n", m("start/hooked"))
	fmt.Fprintf(&w, "| the same with a no-op hook (`/bin/true`) at the same stages: podman's own cost of running hooks | %.1f |\n", m("start/noop-hook"))
	fmt.Fprintf(&w, "| `podman run --rm ... true`, host network, without the hook | %.1f |\n", m("start/unhooked"))
	fmt.Fprintf(&w, "| `podman run --rm ... true`, bridge network | %.1f |\n", m("start/bridge"))
	fmt.Fprintf(&w, "| `sockshim hook prestart` (fork+exec included), p50 / p99 | %.2f / %.2f |\n", m("hook/prestart/p50"), m("hook/prestart/p99"))
	fmt.Fprintf(&w, "| `sockshim hook poststop`, p50 | %.2f |\n", m("hook/poststop/p50"))
	fmt.Fprintf(&w, "| the same binary doing nothing (`sockshim version`: fork, exec, Go runtime start, package initialisation), p50 | %.2f |\n", m("hook/version/p50"))
	fmt.Fprintf(&w, "| fork and exec of `/bin/true`, p50 | %.2f |\n", m("hook/true/p50"))

	fmt.Fprintf(&w, "\n## Targets\n\n| target | measured | |\n|---|---|---|\n")
	check := func(name string, measured float64, ok bool, format string) {
		verdict := "met"
		if !ok {
			verdict = "**missed**"
		}
		fmt.Fprintf(&w, "| %s | "+format+" | %s |\n", name, measured, verdict)
	}
	meanRatio := m("rtt1024/bypass/mean") / m("rtt1024/plain/mean")
	check("1 KiB mean RTT bypass <= 0.55 x plain", meanRatio, meanRatio <= 0.55, "%.3f")
	p99Ratio := m("rtt1024/bypass/p99") / m("rtt1024/plain/p99")
	check("1 KiB p99 RTT bypass <= 0.70 x plain", p99Ratio, p99Ratio <= 0.70, "%.3f")
	unixRatio := m("rtt1024/bypass/mean") / m("rtt1024/unix/mean")
	check("1 KiB mean RTT bypass <= 1.05 x AF_UNIX", unixRatio, unixRatio <= 1.05, "%.3f")
	streamRatio := m("stream/bypass") / m("stream/plain")
	check("stream bypass >= 1.0 x plain (default buffers)", streamRatio, streamRatio >= 1.0, "%.3f")
	check("stream bypass >= 1.0 x plain at every buffer size the bypass carries (lowest)", minSweep, minSweep >= 1.0, "%.3f")
	if minOffMap != 0 {
		fmt.Fprintf(&w, "| (for reference: the cells left to plain TCP, plain against plain, lowest) | %.2f | |\n", minOffMap)
	}
	connRatio := m("connect/bypass") / m("connect/plain")
	check("connection rate with bypass >= 0.9 x without", connRatio, connRatio >= 0.9, "%.3f")
	ctrRatio := m("containers/host+bypass/mean") / m("containers/bridge/mean")
	check("hooked host-network containers RTT <= 0.5 x bridge", ctrRatio, ctrRatio <= 0.5, "%.3f")
	startRatio := m("start/hooked") / m("start/unhooked")
	check("hooked start within 5 % of unhooked", startRatio, startRatio <= 1.05, "%.3f x")
	fmt.Fprintf(&w, "| (for reference: the hook's own share, hooked / no-op hook) | %.3f x | |\n", m("start/hooked")/m("start/noop-hook"))
	check("hooked start below bridge (ms)", m("start/hooked"), m("start/hooked") < m("start/bridge"), "%.1f")
	check("hook prestart p50 <= 2.5 ms", m("hook/prestart/p50"), m("hook/prestart/p50") <= 2.5, "%.2f")
	fmt.Fprintf(&w, "| (for reference: prestart p50 less `sockshim version`'s, the hook's own work) | %.2f | |\n", m("hook/prestart/p50")-m("hook/version/p50"))
	fmt.Fprintf(&w, "\nChart: [results.svg](results.svg). Command: `make bench` (as root).\n")
	return w.String()
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func numCPU() int {
	data, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(data), "processor\t:")
}

// chart draws the 1 KiB mean round-trip times as horizontal bars.
func (b *bench) chart() string {
	m := b.s.median
	bars := []struct {
		label string
		value float64
		color string
	}{
		{"AF_UNIX stream (floor)", m("rtt1024/unix/mean"), "#999999"},
		{"loopback, sockshim bypass", m("rtt1024/bypass/mean"), "#2b8a3e"},
		{"loopback, plain", m("rtt1024/plain/mean"), "#1c7ed6"},
		{"containers, host network + bypass", m("containers/host+bypass/mean"), "#2b8a3e"},
		{"containers, host network", m("containers/host/mean"), "#1c7ed6"},
		{"containers, podman bridge", m("containers/bridge/mean"), "#e8590c"},
		{"veth pair between netns", m("veth/mean"), "#e8590c"},
	}
	max := 0.0
	for _, b := range bars {
		if b.value > max {
			max = b.value
		}
	}
	const left, width, row = 260, 400, 28
	var w strings.Builder
	height := 50 + row*len(bars)
	fmt.Fprintf(&w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="13">`+"\n", left+width+80, height)
	fmt.Fprintf(&w, `<text x="10" y="20" font-weight="bold">Mean round-trip time, 1 KiB requests (µs, lower is better; both ends on CPU 0)</text>`+"\n")
	for i, bar := range bars {
		y := 40 + i*row
		bw := 0.0
		if max > 0 {
			bw = bar.value / max * width
		}
		fmt.Fprintf(&w, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+15, bar.label)
		fmt.Fprintf(&w, `<rect x="%d" y="%d" width="%.1f" height="20" fill="%s"/>`+"\n", left, y+2, bw, bar.color)
		fmt.Fprintf(&w, `<text x="%.1f" y="%d">%.1f</text>`+"\n", float64(left)+bw+6, y+17, bar.value)
	}
	w.WriteString("</svg>\n")
	return w.String()
}
