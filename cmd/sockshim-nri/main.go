// Command sockshim-nri is sockshim's NRI plugin for containerd and CRI-O,
// which `sockshim nri` runs. It is a program of its own so that the OCI
// hook, which runs at every container start, does not pay for the NRI,
// ttrpc, protobuf, WASM and Prometheus packages' start-up (measured with
// GODEBUG=inittrace=1, interleaved: main reached at 1.8-3.9 ms without
// them, 4.0-6.9 ms with them).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/cmdline"
	"github.com/sockshim/sockshim/internal/nriplugin"
	"github.com/sockshim/sockshim/internal/records"
)

const nriUsage = `sockshim nri [--socket PATH] [--name NAME] [--idx NN] [--pool LOW-HIGH]
             [--metrics-address HOST:PORT [--metrics-go]] [OPTIONS]

Runs sockshim as an NRI plugin of containerd (1.7 and later, NRI enabled) or
CRI-O (1.26 and later): the OCI hook's treatment, driven by the runtime's
container lifecycle events, until the runtime goes away or SIGTERM.

  CreateContainer   refuses a container whose annotations do not parse (the
                    error names the annotation and the item)
  StartContainer    the prestart treatment, before the container's code runs
  StopContainer,
  RemoveContainer   the poststop treatment (idempotent)
  Synchronize       at plugin (re)start: sets up running containers that lack
                    the treatment, removes records of containers that are
                    gone; running containers keep their mappings and
                    connections

Annotations come from the pod, with NRI's per-container override, in this
order: io.sockshim.ports/container.NAME, io.sockshim.ports/pod,
io.sockshim.ports (the same for io.sockshim.bypass); then the container's
own annotations.

  --socket PATH   the runtime's NRI socket (default /var/run/nri/nri.sock)
  --name NAME     plugin name (default sockshim)
  --idx NN        plugin index, its place in the plugin order (default 10)
  --pool LOW-HIGH host ports to allocate from (default 20000-29999; env
                  SOCKSHIM_POOL)
  --metrics-address HOST:PORT
                  serve Prometheus metrics at http://HOST:PORT/metrics
                  (e.g. 127.0.0.1:9464; default empty: no metrics): set-ups
                  and tear-downs by result, failures by reason, set-up
                  latency, and per container (labels container_id, pod,
                  namespace, container) its port mappings and what the
                  bypass redirected, read from the kernel at each scrape
  --metrics-go    with --metrics-address, the Go runtime's and the
                  process's metrics too (go_*, process_*)
  --bpffs DIR, --state-dir DIR, --log-level LEVEL   as for every command

Started by the runtime as a pre-registered plugin (from /opt/nri/plugins,
named NN-sockshim), it takes its name, index and connection from the
environment the runtime sets, and the flags are not needed.
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := cmdline.NewFlagSet("nri")
	socket := fs.String("socket", api.DefaultSocketPath, "")
	name := fs.String("name", "sockshim", "")
	idx := fs.String("idx", "10", "")
	poolOf := cmdline.AddPool(fs)
	metricsAddr := fs.String("metrics-address", "", "")
	metricsGo := fs.Bool("metrics-go", false, "")
	opts := cmdline.AddOptions(fs)
	if code, ok := cmdline.Parse(fs, nriUsage, args); !ok {
		return code
	}
	if *metricsGo && *metricsAddr == "" {
		return cmdline.Fail(cmdline.ExitUsage, "nri: --metrics-go needs --metrics-address (see sockshim help nri)")
	}
	if code, ok := cmdline.RequireRoot("nri"); !ok {
		return code
	}
	pool, err := poolOf()
	if err != nil {
		return cmdline.Fail(cmdline.ExitUsage, "nri: %v", err)
	}
	log := opts.Logger()
	k, err := bpf.Open(opts.BPFFS)
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "nri: %v", err)
	}
	defer k.Close()
	store, err := records.Open(opts.StateDir)
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "nri: %v", err)
	}
	// NRI's own lines go through our logger, at our --log-level.
	stubOpts := []stub.Option{stub.WithLogger(nriplugin.StubLogger(log))}
	if os.Getenv(api.PluginSocketEnvVar) == "" { // not launched by the runtime
		stubOpts = append(stubOpts, stub.WithSocketPath(*socket), stub.WithPluginName(*name), stub.WithPluginIdx(*idx))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	plugin := &nriplugin.Plugin{K: k, Store: store, Pool: pool, Log: log}
	if *metricsAddr != "" {
		if plugin.Metrics, err = serveMetrics(ctx, *metricsAddr, *metricsGo, store, opts, log); err != nil {
			return cmdline.Fail(cmdline.ExitFailure, "nri: %v", err)
		}
	}
	s, err := stub.New(plugin, stubOpts...)
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "nri: %v", err)
	}
	if err := s.Run(ctx); err != nil && ctx.Err() == nil {
		return cmdline.Fail(cmdline.ExitFailure, "nri: %v", err)
	}
	return cmdline.ExitOK
}

// serveMetrics starts the metrics endpoint before the plugin connects, so
// that a busy address fails the command at once and Synchronize's set-ups
// are already counted.
func serveMetrics(ctx context.Context, addr string, goCollector bool, store *records.Store, opts *cmdline.Options, log *slog.Logger) (*nriplugin.Metrics, error) {
	m, err := nriplugin.NewMetrics(nriplugin.MetricsConfig{Store: store, BPFFS: opts.BPFFS, GoCollector: goCollector, Log: log})
	if err != nil {
		return nil, err
	}
	if _, err := m.Serve(ctx, addr); err != nil {
		return nil, err
	}
	return m, nil
}
