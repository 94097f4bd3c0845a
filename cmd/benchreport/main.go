// Command benchreport is `make bench`: it runs sockshim's experiments and the real
// alternatives side by side, in interleaved rounds, and writes the medians to
// bench/results.md with an SVG chart, checking the targets of the benchmark
// issue. Run it as root from the repository root after `make build`.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/sockshim", "the sockshim binary")
	rounds := flag.Int("rounds", 3, "interleaved rounds; medians are reported")
	out := flag.String("out", "bench", "directory for results.md and results.svg")
	quick := flag.Bool("quick", false, "fewer requests, for a smoke run")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: run as root (make bench)")
		os.Exit(2)
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fatal(err)
	}
	b, err := newBench(abs, *quick)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: set up:", err)
		os.Exit(1)
	}
	// A failure panics with benchFailure: clean up (containers, network
	// namespaces, pins), then exit 1.
	defer func() {
		r := recover()
		b.close()
		if f, ok := r.(benchFailure); ok {
			fmt.Fprintln(os.Stderr, "bench:", f.err)
			os.Exit(1)
		} else if r != nil {
			panic(r)
		}
	}()
	for r := 1; r <= *rounds; r++ {
		fmt.Fprintf(os.Stderr, "== round %d/%d\n", r, *rounds)
		b.round()
	}
	b.hookLatency()
	report := b.report(*rounds)
	fmt.Print(report)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "results.md"), []byte(report), 0o644); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "results.svg"), []byte(b.chart()), 0o644); err != nil {
		fatal(err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", filepath.Join(*out, "results.md"), filepath.Join(*out, "results.svg"))
}

type benchFailure struct{ err error }

// fatal ends the run; main's deferred clean-up still runs.
func fatal(err error) {
	panic(benchFailure{err})
}

// samples collects one figure's value per round.
type samples map[string][]float64

func (s samples) add(name string, v float64) { s[name] = append(s[name], v) }

func (s samples) median(name string) float64 {
	vs := append([]float64(nil), s[name]...)
	if len(vs) == 0 {
		return 0
	}
	sort.Float64s(vs)
	return vs[len(vs)/2]
}

// run runs a command and returns its stdout, failing loudly.
func run(name string, args ...string) []byte {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fatal(fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err))
	}
	return out
}

func decode(data []byte, v any) {
	if err := json.Unmarshal(data, v); err != nil {
		fatal(fmt.Errorf("decode %q: %w", data, err))
	}
}

func since(start time.Time) float64 { return float64(time.Since(start)) / 1e6 }
