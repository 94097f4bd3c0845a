package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/sockshim/sockshim/internal/bench"
	"github.com/sockshim/sockshim/internal/cmdline"
)

const benchUsage = `sockshim bench [--mode rtt|stream|connect] [OPTIONS] [--json]

The reference experiment (--mode rtt, the default): one client, one echo
server, one TCP connection, N requests of BYTES bytes, each echoed back in
full before the next; the mean round-trip time is the total of the
per-request times divided by N. Client and server are two processes, each in
its own sockshim run group and session (as two runc containers are), on one
locked OS thread pinned to a CPU, with non-blocking sockets waited on with
epoll (the bypass takes only non-blocking sockets) and raw syscalls, so the
figure is the kernel's path, not Go's scheduler or netpoller. Every mode's
ends work this way.
Three variants run one after the other in each round: plain loopback (groups
without the bypass), bypass (both groups with --bypass) and AF_UNIX stream
sockets (the floor of kernel socket IPC). With several rounds the run with
the median mean is reported.

--mode stream: one-way bulk throughput in MB/s, writes of --size bytes
(default 65536) for --seconds (default 3), plain and bypass.
--mode connect: connections per second (connect, accept, close), --connections
of them (default 20000), plain and with the bypass attached, and how many of
the closed sockets the kernel still held at the end (from /proc/slabinfo).

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
  --one-session    both ends in this command's session, one scheduling group
                   under autogroup (default: each end leads its own, as two
                   runc containers do)
  --json           rtt: {"plain": R, "bypass": R, "unix": R, "placement": P}
                   with R = {mean_us, p50_us, p99_us, p999_us, requests, size};
                   stream: R = {mb_per_s, bytes, write_size, seconds, retransmits,
                   normal_path_bytes (what TCP itself sent),
                   spurious_retransmits, reader_drops};
                   connect: R = {conns_per_s, connections, seconds}

Progress goes to stderr.
`

func cmdBench(args []string) int {
	fs := cmdline.NewFlagSet("bench")
	o := bench.Options{Progress: os.Stderr}
	fs.StringVar(&o.Mode, "mode", "rtt", "")
	fs.IntVar(&o.Requests, "requests", 250000, "")
	fs.IntVar(&o.Size, "size", 0, "")
	fs.Float64Var(&o.Seconds, "seconds", 3, "")
	fs.IntVar(&o.Connections, "connections", 20000, "")
	fs.IntVar(&o.Sndbuf, "sndbuf", 0, "")
	fs.IntVar(&o.Rcvbuf, "rcvbuf", 0, "")
	cpus := fs.String("cpus", "0,0", "")
	fs.IntVar(&o.Rounds, "rounds", 1, "")
	fs.BoolVar(&o.OneSession, "one-session", false, "")
	asJSON := fs.Bool("json", false, "")
	opts := cmdline.AddOptions(fs)
	if code, ok := cmdline.Parse(fs, benchUsage, args); !ok {
		return code
	}
	var err error
	if o.ClientCPU, o.ServerCPU, err = bench.ParseCPUs(*cpus); err != nil {
		return cmdline.Fail(cmdline.ExitUsage, "bench: %v", err)
	}
	if o.Self, err = os.Executable(); err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "bench: %v", err)
	}
	o.BPFFS, o.StateDir = opts.BPFFS, opts.StateDir
	report, err := bench.Run(o)
	if errors.Is(err, bench.ErrUsage) {
		return cmdline.Fail(cmdline.ExitUsage, "bench: %v", err)
	}
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "bench: %v", err)
	}
	if *asJSON {
		out, _ := json.MarshalIndent(report, "", "  ")
		fmt.Println(string(out))
		return cmdline.ExitOK
	}
	report.Print(os.Stdout)
	return cmdline.ExitOK
}

// benchEnd makes a benchmark end a command: its error is the one stderr
// line.
func benchEnd(end func(args []string) error) func(args []string) int {
	return func(args []string) int {
		err := end(args)
		switch {
		case errors.Is(err, bench.ErrUsage):
			return cmdline.Fail(cmdline.ExitUsage, "%v", err)
		case err != nil:
			return cmdline.Fail(cmdline.ExitFailure, "%v", err)
		}
		return cmdline.ExitOK
	}
}
