package nriplugin

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sockshim/sockshim/internal/records"
)

// MetricsConfig is what the plugin's Prometheus metrics read.
type MetricsConfig struct {
	// Store is the plugin's store: the containers set up and their ports.
	Store *records.Store
	// BPFFS is sockshim's pin directory, opened read-only at each scrape
	// for the kernel's per-group counters (as `sockshim ls` does).
	BPFFS string
	// GoCollector adds the Go runtime's and the process's metrics (go_*,
	// process_*).
	GoCollector bool
	// Log gets the scrapes' collection errors and the server's.
	Log *slog.Logger
}

// Metrics are the plugin's Prometheus metrics, on a registry of their own so
// that nothing registered globally by a dependency leaks into the scrape. A
// nil *Metrics is valid and records nothing: the plugin without metrics.
type Metrics struct {
	reg    *prometheus.Registry
	events *eventMetrics
	labels *containerLabels
	log    *slog.Logger
}

// NewMetrics registers the event metrics and the per-container collector.
func NewMetrics(cfg MetricsConfig) (*Metrics, error) {
	if cfg.Store == nil {
		return nil, errors.New("metrics: no store of records to read the containers from")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), events: newEventMetrics(), labels: newContainerLabels(), log: cfg.Log}
	cs := []prometheus.Collector{m.events, &containerCollector{store: cfg.Store, bpffs: cfg.BPFFS, labels: m.labels}}
	if cfg.GoCollector {
		cs = append(cs, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// Handler serves the registry in the Prometheus exposition formats. A
// collection error (an unreadable record, a kernel read that failed) is
// logged and leaves out only what it concerns: the rest of the scrape
// stays useful.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{m.log},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg, // promhttp_metric_handler_errors_total
	})
}

// promLogger is slog behind promhttp's Println logger.
type promLogger struct{ l *slog.Logger }

func (p promLogger) Println(v ...any) { p.l.Warn("metrics: " + fmt.Sprint(v...)) }
