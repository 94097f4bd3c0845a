package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

const benchUsage = `sockshim bench [--mode rtt|stream|connect] [OPTIONS] [--json]

The reference experiment (--mode rtt, the default): one client, one echo
server, one TCP connection, N requests of BYTES bytes, each echoed back in
full before the next; the mean round-trip time is the total of the
per-request times divided by N. Client and server are two processes, each in
its own sockshim run group, on one locked OS thread pinned to a CPU, with
non-blocking sockets waited on with epoll (the bypass takes only non-blocking
sockets) and raw syscalls, so the figure is the kernel's path, not Go's
scheduler or netpoller. Every mode's ends work this way.
Three variants run one after the other in each round: plain loopback (groups
without the bypass), bypass (both groups with --bypass) and AF_UNIX stream
sockets (the floor of kernel socket IPC). With several rounds the run with
the median mean is reported.

--mode stream: one-way bulk throughput in MB/s, writes of --size bytes
(default 65536) for --seconds (default 3), plain and bypass.
--mode connect: connections per second (connect, accept, close), --connections
of them (default 20000), plain and with the bypass attached.

  --requests N     rtt: requests per run (default 250000); a warm-up of N/10
                   (at most 5000) comes first and is not counted
  --size BYTES     rtt: request size (default 1024); stream: write size
  --seconds S      stream: duration of each run (default 3)
  --connections N  connect: connections per run (default 20000)
  --sndbuf BYTES   stream: SO_SNDBUF of the writer (default: the kernel's tuning)
  --rcvbuf BYTES   stream: SO_RCVBUF of the reader (default: the kernel's tuning)
  --cpus A,B       CPU of the client and of the server (default 0,0: both on
                   CPU 0; in a VM a wakeup across CPUs can cost more than the
                   whole loopback path)
  --rounds R       interleaved rounds (default 1)
  --json           rtt: {"plain": R, "bypass": R, "unix": R, "placement": P}
                   with R = {mean_us, p50_us, p99_us, p999_us, requests, size};
                   stream: R = {mb_per_s, bytes, write_size, seconds, retransmits,
                   normal_path_bytes (what TCP itself sent),
                   spurious_retransmits, reader_drops};
                   connect: R = {conns_per_s, connections, seconds}

Progress goes to stderr.
`

func init() {
	commands["bench"] = command{"the reference RTT experiment, with and without the bypass", benchUsage, cmdBench}
	// The ends of a run; internal, not in the command list.
	for name, fn := range map[string]func([]string) int{
		"__bench-echo": cmdBenchEcho, "__bench-client": cmdBenchClient,
		"__bench-sink": cmdBenchSink, "__bench-stream": cmdBenchStream,
		"__bench-accept": cmdBenchAccept, "__bench-connect": cmdBenchConnect,
	} {
		hidden[name] = fn
	}
}

func cmdBench(args []string) int {
	fs := newFlagSet("bench")
	mode := fs.String("mode", "rtt", "")
	requests := fs.Int("requests", 250000, "")
	size := fs.Int("size", 0, "")
	seconds := fs.Float64("seconds", 3, "")
	connections := fs.Int("connections", 20000, "")
	sndbuf := fs.Int("sndbuf", 0, "")
	rcvbuf := fs.Int("rcvbuf", 0, "")
	cpus := fs.String("cpus", "0,0", "")
	rounds := fs.Int("rounds", 1, "")
	asJSON := fs.Bool("json", false, "")
	opts := addOptions(fs)
	if code, ok := parse(fs, benchUsage, args); !ok {
		return code
	}
	clientCPU, serverCPU, err := parseCPUs(*cpus)
	if err != nil || *requests <= 0 || *size < 0 || *rounds <= 0 || *seconds <= 0 || *connections <= 0 {
		return fail(exitUsage, "bench: want positive --requests, --size, --seconds, --connections, --rounds and --cpus A,B (%v)", err)
	}
	b := &bencher{opts: opts, clientCPU: clientCPU, serverCPU: serverCPU}
	if b.self, err = os.Executable(); err != nil {
		return fail(exitFailure, "bench: %v", err)
	}
	var exp experiment
	switch *mode {
	case "rtt":
		exp = &rttExperiment{requests: *requests, size: orDefault(*size, 1024)}
	case "stream":
		exp = &streamExperiment{seconds: *seconds, size: orDefault(*size, 65536), sndbuf: *sndbuf, rcvbuf: *rcvbuf}
	case "connect":
		exp = &connectExperiment{connections: *connections}
	default:
		return fail(exitUsage, "bench: unknown --mode %q (rtt, stream or connect)", *mode)
	}
	runs := map[string][]json.RawMessage{}
	for r := 1; r <= *rounds; r++ {
		for _, variant := range exp.variants() {
			fmt.Fprintf(os.Stderr, "bench: round %d/%d: %s %s...\n", r, *rounds, *mode, variant)
			out, err := exp.run(b, variant)
			if err != nil {
				return fail(exitFailure, "bench: %s %s: %v", *mode, variant, err)
			}
			runs[variant] = append(runs[variant], out)
		}
	}
	report := map[string]any{"mode": *mode, "placement": b.placement()}
	for variant, rs := range runs {
		report[variant] = exp.median(rs)
	}
	if *asJSON {
		out, _ := json.MarshalIndent(report, "", "  ")
		fmt.Println(string(out))
		return exitOK
	}
	fmt.Printf("%s; non-blocking sockets, epoll, one thread each; %s\n", exp.describe(), b.placement())
	exp.print(report)
	return exitOK
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// experiment is one --mode.
type experiment interface {
	variants() []string
	run(b *bencher, variant string) (json.RawMessage, error)
	median(runs []json.RawMessage) any
	describe() string
	print(report map[string]any)
}

type bencher struct {
	opts                 *options
	self                 string
	clientCPU, serverCPU int
}

func (b *bencher) placement() string {
	if b.clientCPU == b.serverCPU {
		return fmt.Sprintf("client and server both pinned to CPU %d", b.clientCPU)
	}
	return fmt.Sprintf("client pinned to CPU %d, server to CPU %d", b.clientCPU, b.serverCPU)
}

// command returns one end: under `sockshim run` in its own group for the
// TCP variants (with --bypass for "bypass"), directly for AF_UNIX.
func (b *bencher) command(variant, role string, end ...string) *exec.Cmd {
	argv := end
	if variant != "unix" {
		wrap := []string{"run", "--bpffs", b.opts.bpffs, "--state-dir", b.opts.stateDir, "--name", fmt.Sprintf("bench-%s-%s-%s", variant, role, randomHex(3))}
		if variant == "bypass" {
			wrap = append(wrap, "--bypass")
		}
		argv = append(append(wrap, "--", b.self), end...)
	}
	cmd := exec.Command(b.self, argv...)
	cmd.Stderr = os.Stderr
	return cmd
}

// pair starts the server end, which prints the address to dial on its first
// line, then runs the client end with that address in place of "ADDR" and
// returns the client's output and, with wantTail, the server's next line.
func (b *bencher) pair(variant string, wantTail bool, server, client []string) (clientOut []byte, serverTail string, err error) {
	network, addr := "tcp", "127.0.0.1"
	if variant == "unix" {
		dir, err := os.MkdirTemp("", "sockshim-bench-")
		if err != nil {
			return nil, "", err
		}
		defer os.RemoveAll(dir)
		network, addr = "unix", filepath.Join(dir, "bench.sock")
	}
	subst := func(args []string, dial string) []string {
		out := []string{args[0], network}
		for _, a := range args[1:] {
			if a == "ADDR" {
				a = dial
			}
			out = append(out, a)
		}
		return out
	}
	srv := b.command(variant, "server", subst(server, addr)...)
	pipe, err := srv.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := srv.Start(); err != nil {
		return nil, "", fmt.Errorf("start server: %w", err)
	}
	// SIGTERM, not SIGKILL: `sockshim run` forwards it to the server and
	// then removes the group; a killed wrapper would leave both behind.
	defer func() { srv.Process.Signal(syscall.SIGTERM); srv.Wait() }()
	rd := bufio.NewReader(pipe)
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, "", fmt.Errorf("server did not start")
	}
	cli := b.command(variant, "client", subst(client, strings.TrimSpace(line))...)
	out, err := cli.Output()
	if err != nil {
		return nil, "", fmt.Errorf("client: %w", err)
	}
	if !wantTail {
		return out, "", nil
	}
	tail, _ := rd.ReadString('\n')
	return out, strings.TrimSpace(tail), nil
}

func parseCPUs(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return 0, 0, fmt.Errorf("--cpus %q: want A,B", s)
	}
	x, err1 := strconv.Atoi(strings.TrimSpace(a))
	y, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || x < 0 || y < 0 {
		return 0, 0, fmt.Errorf("--cpus %q: want two CPU numbers", s)
	}
	return x, y, nil
}

// medianBy decodes runs into T and returns the one with the median key.
func medianBy[T any](runs []json.RawMessage, key func(T) float64) T {
	var rs []T
	for _, raw := range runs {
		var r T
		json.Unmarshal(raw, &r)
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return key(rs[i]) < key(rs[j]) })
	return rs[len(rs)/2]
}

type rttExperiment struct{ requests, size int }

func (e *rttExperiment) variants() []string { return []string{"plain", "bypass", "unix"} }
func (e *rttExperiment) describe() string {
	return fmt.Sprintf("round trip: %d requests of %d B, one connection", e.requests, e.size)
}
func (e *rttExperiment) run(b *bencher, variant string) (json.RawMessage, error) {
	cpuS, cpuC := strconv.Itoa(b.serverCPU), strconv.Itoa(b.clientCPU)
	out, _, err := b.pair(variant, false,
		[]string{"__bench-echo", "ADDR", strconv.Itoa(e.size), cpuS},
		[]string{"__bench-client", "ADDR", strconv.Itoa(e.requests), strconv.Itoa(e.size), cpuC})
	return out, err
}
func (e *rttExperiment) median(runs []json.RawMessage) any {
	return medianBy(runs, func(r rttResult) float64 { return r.MeanUS })
}
func (e *rttExperiment) print(report map[string]any) {
	fmt.Printf("%-8s %10s %10s %10s %10s\n", "variant", "mean µs", "p50 µs", "p99 µs", "p99.9 µs")
	for _, v := range e.variants() {
		r := report[v].(rttResult)
		fmt.Printf("%-8s %10.2f %10.2f %10.2f %10.2f\n", v, r.MeanUS, r.P50US, r.P99US, r.P999US)
	}
	p, y, u := report["plain"].(rttResult), report["bypass"].(rttResult), report["unix"].(rttResult)
	fmt.Printf("bypass/plain: mean %.2f, p99 %.2f   bypass/unix: mean %.2f\n", y.MeanUS/p.MeanUS, y.P99US/p.P99US, y.MeanUS/u.MeanUS)
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
		[]string{"__bench-sink", "ADDR", strconv.Itoa(e.size), strconv.Itoa(b.serverCPU), strconv.Itoa(e.rcvbuf)},
		[]string{"__bench-stream", "ADDR", strconv.FormatFloat(e.seconds, 'f', -1, 64), strconv.Itoa(e.size), strconv.Itoa(b.clientCPU), strconv.Itoa(e.sndbuf)})
	if err != nil {
		return nil, err
	}
	var r streamResult
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
	return medianBy(runs, func(r streamResult) float64 { return r.MBPerS })
}
func (e *streamExperiment) print(report map[string]any) {
	p, y := report["plain"].(streamResult), report["bypass"].(streamResult)
	for _, r := range []struct {
		name string
		r    streamResult
	}{{"plain", p}, {"bypass", y}} {
		share := 0.0
		if r.r.Bytes > 0 {
			share = 100 * float64(r.r.NormalPathBytes) / float64(r.r.Bytes)
		}
		fmt.Printf("%-6s %10.0f MB/s   by TCP %5.1f %%   retransmits %d (%d spurious)   reader drops %d\n", r.name, r.r.MBPerS, share, r.r.Retransmits, r.r.SpuriousRetransmits, r.r.ReaderDrops)
	}
	fmt.Printf("bypass/plain: %.2f\n", y.MBPerS/p.MBPerS)
}

type connectExperiment struct{ connections int }

func (e *connectExperiment) variants() []string { return []string{"plain", "bypass"} }
func (e *connectExperiment) describe() string {
	return fmt.Sprintf("connection rate: %d connect+accept+close", e.connections)
}
func (e *connectExperiment) run(b *bencher, variant string) (json.RawMessage, error) {
	out, _, err := b.pair(variant, false,
		[]string{"__bench-accept", "ADDR", strconv.Itoa(b.serverCPU)},
		[]string{"__bench-connect", "ADDR", strconv.Itoa(e.connections), strconv.Itoa(b.clientCPU)})
	return out, err
}
func (e *connectExperiment) median(runs []json.RawMessage) any {
	return medianBy(runs, func(r connectResult) float64 { return r.ConnsPerS })
}
func (e *connectExperiment) print(report map[string]any) {
	p, y := report["plain"].(connectResult), report["bypass"].(connectResult)
	fmt.Printf("plain  %10.0f conn/s\nbypass %10.0f conn/s\nbypass/plain: %.2f\n", p.ConnsPerS, y.ConnsPerS, y.ConnsPerS/p.ConnsPerS)
}
