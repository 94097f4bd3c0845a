package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// The three experiments (--mode): what each runs, how its runs are summed
// up and printed.

type rttExperiment struct{ requests, size int }

func (e *rttExperiment) variants() []string { return []string{"plain", "bypass", "unix"} }
func (e *rttExperiment) describe() string {
	return fmt.Sprintf("round trip: %d requests of %d B, one connection", e.requests, e.size)
}
func (e *rttExperiment) run(b *bencher, variant string) (json.RawMessage, error) {
	cpuS, cpuC := strconv.Itoa(b.ServerCPU), strconv.Itoa(b.ClientCPU)
	out, _, err := b.pair(variant, false,
		[]string{"__bench-echo", "ADDR", strconv.Itoa(e.size), cpuS},
		[]string{"__bench-client", "ADDR", strconv.Itoa(e.requests), strconv.Itoa(e.size), cpuC})
	return out, err
}
func (e *rttExperiment) median(runs []json.RawMessage) any {
	return medianBy(runs, func(r RTTResult) float64 { return r.MeanUS })
}
func (e *rttExperiment) print(w io.Writer, report map[string]any) {
	fmt.Fprintf(w, "%-8s %10s %10s %10s %10s\n", "variant", "mean µs", "p50 µs", "p99 µs", "p99.9 µs")
	for _, v := range e.variants() {
		r := report[v].(RTTResult)
		fmt.Fprintf(w, "%-8s %10.2f %10.2f %10.2f %10.2f\n", v, r.MeanUS, r.P50US, r.P99US, r.P999US)
	}
	p, y, u := report["plain"].(RTTResult), report["bypass"].(RTTResult), report["unix"].(RTTResult)
	fmt.Fprintf(w, "bypass/plain: mean %.2f, p99 %.2f   bypass/unix: mean %.2f\n", y.MeanUS/p.MeanUS, y.P99US/p.P99US, y.MeanUS/u.MeanUS)
}

type streamExperiment struct {
	seconds        float64
	size           int
	sndbuf, rcvbuf int // SO_SNDBUF of the writer, SO_RCVBUF of the reader; 0: the kernel's tuning
}

func (e *streamExperiment) variants() []string { return []string{"plain", "bypass"} }
func (e *streamExperiment) describe() string {
	bufs := func(n int) string {
		if n == 0 {
			return "auto"
		}
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("one-way stream: writes of %d B for %gs, writer SO_SNDBUF %s, reader SO_RCVBUF %s", e.size, e.seconds, bufs(e.sndbuf), bufs(e.rcvbuf))
}
func (e *streamExperiment) run(b *bencher, variant string) (json.RawMessage, error) {
	out, got, err := b.pair(variant, true,
		[]string{"__bench-sink", "ADDR", strconv.Itoa(e.size), strconv.Itoa(b.ServerCPU), strconv.Itoa(e.rcvbuf)},
		[]string{"__bench-stream", "ADDR", strconv.FormatFloat(e.seconds, 'f', -1, 64), strconv.Itoa(e.size), strconv.Itoa(b.ClientCPU), strconv.Itoa(e.sndbuf)})
	if err != nil {
		return nil, err
	}
	var r StreamResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("stream client printed %q", out)
	}
	var counted, drops int64
	if n, _ := fmt.Sscan(got, &counted, &drops); n != 2 || counted != r.Bytes {
		return nil, fmt.Errorf("sent %d bytes, the sink counted %q", r.Bytes, got)
	}
	r.ReaderDrops = drops
	return json.Marshal(r)
}
func (e *streamExperiment) median(runs []json.RawMessage) any {
	return medianBy(runs, func(r StreamResult) float64 { return r.MBPerS })
}
func (e *streamExperiment) print(w io.Writer, report map[string]any) {
	p, y := report["plain"].(StreamResult), report["bypass"].(StreamResult)
	for _, r := range []struct {
		name string
		r    StreamResult
	}{{"plain", p}, {"bypass", y}} {
		share := 0.0
		if r.r.Bytes > 0 {
			share = 100 * float64(r.r.NormalPathBytes) / float64(r.r.Bytes)
		}
		fmt.Fprintf(w, "%-6s %10.0f MB/s   by TCP %5.1f %%   retransmits %d (%d spurious)   reader drops %d\n", r.name, r.r.MBPerS, share, r.r.Retransmits, r.r.SpuriousRetransmits, r.r.ReaderDrops)
	}
	fmt.Fprintf(w, "bypass/plain: %.2f\n", y.MBPerS/p.MBPerS)
}

type connectExperiment struct{ connections int }

func (e *connectExperiment) variants() []string { return []string{"plain", "bypass"} }
func (e *connectExperiment) describe() string {
	return fmt.Sprintf("connection rate: %d connect+accept+close", e.connections)
}
func (e *connectExperiment) run(b *bencher, variant string) (json.RawMessage, error) {
	out, _, err := b.pair(variant, false,
		[]string{"__bench-accept", "ADDR", strconv.Itoa(b.ServerCPU)},
		[]string{"__bench-connect", "ADDR", strconv.Itoa(e.connections), strconv.Itoa(b.ClientCPU)})
	return out, err
}
func (e *connectExperiment) median(runs []json.RawMessage) any {
	return medianBy(runs, func(r ConnectResult) float64 { return r.ConnsPerS })
}
func (e *connectExperiment) print(w io.Writer, report map[string]any) {
	p, y := report["plain"].(ConnectResult), report["bypass"].(ConnectResult)
	for _, r := range []struct {
		name string
		r    ConnectResult
	}{{"plain", p}, {"bypass", y}} {
		fmt.Fprintf(w, "%-6s %10.0f conn/s   closed sockets not yet freed at the end: %s\n", r.name, r.r.ConnsPerS, socketCount(r.r.SocketsNotFreed))
	}
	fmt.Fprintf(w, "bypass/plain: %.2f\n", y.ConnsPerS/p.ConnsPerS)
}

// socketCount prints a SocketsNotFreed figure.
func socketCount(n int) string {
	if n < 0 {
		return "unknown (no /proc/slabinfo)"
	}
	return strconv.Itoa(n)
}
