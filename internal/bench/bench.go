// Package bench is `sockshim bench`: the experiments that compare the
// bypass with plain loopback TCP and AF_UNIX, and the ends they run (each a
// separate process under `sockshim run`, entered through the program's
// hidden __bench-* commands).
package bench

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Options are one `sockshim bench` run's.
type Options struct {
	Mode                 string // rtt, stream or connect
	Requests, Size       int    // rtt: requests per run; rtt and stream: bytes per write (0: 1024, 65536)
	Seconds              float64
	Connections          int
	Sndbuf, Rcvbuf       int // stream: SO_SNDBUF of the writer, SO_RCVBUF of the reader; 0: the kernel's tuning
	ClientCPU, ServerCPU int
	Rounds               int
	OneSession           bool   // both ends in the caller's session (one scheduling group), not one each
	Self                 string // the sockshim binary, whose __bench-* commands are the ends
	BPFFS, StateDir      string // where the ends' `sockshim run` groups live
	Progress             io.Writer
}

// ErrUsage marks an error in the options or in an end's arguments.
var ErrUsage = errors.New("usage")

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUsage}, args...)...)
}

// Report is a run's result: the median run of each variant.
type Report struct {
	exp    experiment
	fields map[string]any
}

// MarshalJSON is --json: {"mode", "placement", and one object a variant}.
func (r *Report) MarshalJSON() ([]byte, error) { return json.Marshal(r.fields) }

// Print writes the report for a reader.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "%s; non-blocking sockets, epoll, one thread each; %s\n", r.exp.describe(), r.fields["placement"])
	r.exp.print(w, r.fields)
}

// Run runs the experiment o.Mode asks for, o.Rounds times interleaved.
func Run(o Options) (*Report, error) {
	if o.Requests <= 0 || o.Size < 0 || o.Rounds <= 0 || o.Seconds <= 0 || o.Connections <= 0 || o.ClientCPU < 0 || o.ServerCPU < 0 {
		return nil, usageError("want positive --requests, --size, --seconds, --connections, --rounds and --cpus A,B")
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	var exp experiment
	switch o.Mode {
	case "rtt":
		exp = &rttExperiment{requests: o.Requests, size: orDefault(o.Size, 1024)}
	case "stream":
		exp = &streamExperiment{seconds: o.Seconds, size: orDefault(o.Size, 65536), sndbuf: o.Sndbuf, rcvbuf: o.Rcvbuf}
	case "connect":
		exp = &connectExperiment{connections: o.Connections}
	default:
		return nil, usageError("unknown --mode %q (rtt, stream or connect)", o.Mode)
	}
	b := &bencher{o}
	runs := map[string][]json.RawMessage{}
	for r := 1; r <= o.Rounds; r++ {
		for _, variant := range exp.variants() {
			fmt.Fprintf(o.Progress, "bench: round %d/%d: %s %s...\n", r, o.Rounds, o.Mode, variant)
			out, err := exp.run(b, variant)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", o.Mode, variant, err)
			}
			runs[variant] = append(runs[variant], out)
		}
	}
	fields := map[string]any{"mode": o.Mode, "placement": b.placement()}
	for variant, rs := range runs {
		fields[variant] = exp.median(rs)
	}
	return &Report{exp: exp, fields: fields}, nil
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
	print(w io.Writer, report map[string]any)
}

type bencher struct {
	Options
}

func (b *bencher) placement() string {
	where := fmt.Sprintf("client pinned to CPU %d, server to CPU %d", b.ClientCPU, b.ServerCPU)
	if b.ClientCPU == b.ServerCPU {
		where = fmt.Sprintf("client and server both pinned to CPU %d", b.ClientCPU)
	}
	if b.OneSession {
		return where + ", in one session"
	}
	return where + ", each in its own session"
}

// command returns one end: under `sockshim run` in its own group for the
// TCP variants (with --bypass for "bypass"), directly for AF_UNIX. Each end
// leads a session of its own, as runc makes every container's first process
// do, unless OneSession: with autogroup scheduling
// (kernel.sched_autogroup_enabled) a session is a scheduling group, and two
// ends sharing one crowd out the kernel's workers on their CPU, which then
// free closed bypass sockets late (README, "Connection rate").
func (b *bencher) command(variant, role string, end ...string) *exec.Cmd {
	argv := end
	if variant != "unix" {
		wrap := []string{"run", "--bpffs", b.BPFFS, "--state-dir", b.StateDir, "--name", fmt.Sprintf("bench-%s-%s-%s", variant, role, strings.ToLower(rand.Text()[:6]))}
		if variant == "bypass" {
			wrap = append(wrap, "--bypass")
		}
		argv = append(append(wrap, "--", b.Self), end...)
	}
	cmd := exec.Command(b.Self, argv...)
	cmd.Stderr = b.Progress
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: !b.OneSession}
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

// ParseCPUs parses --cpus A,B: the client's CPU and the server's.
func ParseCPUs(s string) (int, int, error) {
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
