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
)

const benchUsage = `sockshim bench [--requests N] [--size BYTES] [--cpus A,B] [--rounds R] [--json]

The reference experiment: one client, one echo server, one TCP connection,
N requests of BYTES bytes, each echoed back in full before the next; the
mean round-trip time is the total of the per-request times divided by N.
Client and server are two processes, each in its own sockshim run group,
using blocking syscalls on one locked OS thread. Three modes run, one after
the other in each round: plain loopback (groups without the bypass), bypass
(both groups with --bypass) and AF_UNIX stream sockets (the floor of kernel
socket IPC). With several rounds the run with the median mean is reported.

  --requests N   requests per run (default 250000); a warm-up of N/10
                 (at most 5000) comes first and is not counted
  --size BYTES   request and reply size (default 1024)
  --cpus A,B     CPU of the client and of the server (default 0,0: both
                 on CPU 0; in a VM a wakeup across CPUs can cost more than
                 the whole loopback path)
  --rounds R     interleaved rounds (default 1)
  --json         print {"plain": R, "bypass": R, "unix": R, "placement": P}
                 where R has mean_us, p50_us, p99_us, p999_us, requests, size

Progress goes to stderr.
`

func init() {
	commands["bench"] = command{"the reference RTT experiment, with and without the bypass", benchUsage, cmdBench}
	// The two ends of a run; internal, not in the command list.
	hidden["__bench-echo"] = cmdBenchEcho
	hidden["__bench-client"] = cmdBenchClient
}

var benchModes = []string{"plain", "bypass", "unix"}

func cmdBench(args []string) int {
	fs := newFlagSet("bench")
	requests := fs.Int("requests", 250000, "")
	size := fs.Int("size", 1024, "")
	cpus := fs.String("cpus", "0,0", "")
	rounds := fs.Int("rounds", 1, "")
	asJSON := fs.Bool("json", false, "")
	opts := addOptions(fs)
	if code, ok := parse(fs, benchUsage, args); !ok {
		return code
	}
	clientCPU, serverCPU, err := parseCPUs(*cpus)
	if err != nil || *requests <= 0 || *size <= 0 || *rounds <= 0 {
		return fail(exitUsage, "bench: want --requests, --size, --rounds > 0 and --cpus A,B (%v)", err)
	}
	b := &bencher{opts: opts, requests: *requests, size: *size, clientCPU: clientCPU, serverCPU: serverCPU}
	if b.self, err = os.Executable(); err != nil {
		return fail(exitFailure, "bench: %v", err)
	}
	runs := map[string][]rttResult{}
	for r := 1; r <= *rounds; r++ {
		for _, mode := range benchModes {
			fmt.Fprintf(os.Stderr, "bench: round %d/%d: %s, %d requests of %d B...\n", r, *rounds, mode, *requests, *size)
			res, err := b.run(mode)
			if err != nil {
				return fail(exitFailure, "bench: %s: %v", mode, err)
			}
			runs[mode] = append(runs[mode], res)
		}
	}
	report := map[string]any{"placement": b.placement()}
	med := map[string]rttResult{}
	for _, mode := range benchModes {
		med[mode] = medianRun(runs[mode])
		report[mode] = med[mode]
	}
	if *asJSON {
		out, _ := json.MarshalIndent(report, "", "  ")
		fmt.Println(string(out))
		return exitOK
	}
	fmt.Printf("%d requests of %d B, one connection; %s\n", *requests, *size, b.placement())
	fmt.Printf("%-8s %10s %10s %10s %10s\n", "mode", "mean µs", "p50 µs", "p99 µs", "p99.9 µs")
	for _, mode := range benchModes {
		r := med[mode]
		fmt.Printf("%-8s %10.2f %10.2f %10.2f %10.2f\n", mode, r.MeanUS, r.P50US, r.P99US, r.P999US)
	}
	p, y, u := med["plain"], med["bypass"], med["unix"]
	fmt.Printf("bypass/plain: mean %.2f, p99 %.2f   bypass/unix: mean %.2f\n", y.MeanUS/p.MeanUS, y.P99US/p.P99US, y.MeanUS/u.MeanUS)
	return exitOK
}

type bencher struct {
	opts                 *options
	self                 string
	requests, size       int
	clientCPU, serverCPU int
}

func (b *bencher) placement() string {
	if b.clientCPU == b.serverCPU {
		return fmt.Sprintf("client and server both pinned to CPU %d", b.clientCPU)
	}
	return fmt.Sprintf("client pinned to CPU %d, server to CPU %d", b.clientCPU, b.serverCPU)
}

// command returns argv for one end: under `sockshim run` in its own group
// for the TCP modes, directly for AF_UNIX.
func (b *bencher) command(mode, role string, end ...string) *exec.Cmd {
	argv := append([]string{}, end...)
	if mode != "unix" {
		wrap := []string{"run", "--bpffs", b.opts.bpffs, "--state-dir", b.opts.stateDir, "--name", fmt.Sprintf("bench-%s-%s-%s", mode, role, randomHex(3))}
		if mode == "bypass" {
			wrap = append(wrap, "--bypass")
		}
		argv = append(append(wrap, "--", b.self), end...)
	}
	cmd := exec.Command(b.self, argv...)
	cmd.Stderr = os.Stderr
	return cmd
}

func (b *bencher) run(mode string) (rttResult, error) {
	network, addr := "tcp", "127.0.0.1"
	if mode == "unix" {
		dir, err := os.MkdirTemp("", "sockshim-bench-")
		if err != nil {
			return rttResult{}, err
		}
		defer os.RemoveAll(dir)
		network, addr = "unix", filepath.Join(dir, "echo.sock")
	}
	srv := b.command(mode, "server", "__bench-echo", network, addr, strconv.Itoa(b.size), strconv.Itoa(b.serverCPU))
	out, err := srv.StdoutPipe()
	if err != nil {
		return rttResult{}, err
	}
	if err := srv.Start(); err != nil {
		return rttResult{}, fmt.Errorf("start echo server: %w", err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return rttResult{}, fmt.Errorf("echo server did not start")
	}
	cli := b.command(mode, "client", "__bench-client", network, strings.TrimSpace(line), strconv.Itoa(b.requests), strconv.Itoa(b.size), strconv.Itoa(b.clientCPU))
	res, err := cli.Output()
	if err != nil {
		return rttResult{}, fmt.Errorf("client: %w", err)
	}
	var r rttResult
	if err := json.Unmarshal(res, &r); err != nil {
		return rttResult{}, fmt.Errorf("client printed %q: %w", res, err)
	}
	return r, nil
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

// medianRun is the run whose mean is the median of the rounds.
func medianRun(rs []rttResult) rttResult {
	sorted := append([]rttResult(nil), rs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].MeanUS < sorted[j].MeanUS })
	return sorted[len(sorted)/2]
}
