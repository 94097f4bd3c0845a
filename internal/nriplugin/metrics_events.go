package nriplugin

import (
	"errors"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/oci"
)

// eventMetrics count what the plugin did at the runtime's events.
type eventMetrics struct {
	setUps    *prometheus.CounterVec
	failures  *prometheus.CounterVec
	latency   prometheus.Histogram
	tearDowns *prometheus.CounterVec
}

const (
	resultOK     = "ok"
	resultFailed = "failed"
)

func newEventMetrics() *eventMetrics {
	e := &eventMetrics{
		setUps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sockshim_setup_total",
			Help: "Set-ups of containers whose annotations ask for sockshim (CreateContainer's refusals, StartContainer, Synchronize), by result.",
		}, []string{"result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sockshim_setup_failures_total",
			Help: "Failed set-ups by reason: bad_annotation, no_pid, own_network (the annotations do nothing there), already_set_up, kernel, cgroup, other.",
		}, []string{"reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sockshim_setup_duration_seconds",
			Help: "Time the core took to set a container up (successful set-ups only: a refusal takes microseconds and would hide the real ones).",
			// A set-up takes a few milliseconds (host ports, cgroup,
			// attachment, record): fine below 50 ms, coarse above.
			Buckets: []float64{.001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .1, .25, 1},
		}),
		tearDowns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sockshim_teardown_total",
			Help: "Tear-downs of containers that were set up (StopContainer, RemoveContainer, Synchronize), by result.",
		}, []string{"result"}),
	}
	// Every series from the start: a rate() over a series that appears at
	// its first increment misses that increment.
	for _, r := range []string{resultOK, resultFailed} {
		e.setUps.WithLabelValues(r)
		e.tearDowns.WithLabelValues(r)
	}
	for _, r := range failureReasons {
		e.failures.WithLabelValues(r)
	}
	return e
}

func (e *eventMetrics) Describe(ch chan<- *prometheus.Desc) {
	e.setUps.Describe(ch)
	e.failures.Describe(ch)
	e.latency.Describe(ch)
	e.tearDowns.Describe(ch)
}

func (e *eventMetrics) Collect(ch chan<- prometheus.Metric) {
	e.setUps.Collect(ch)
	e.failures.Collect(ch)
	e.latency.Collect(ch)
	e.tearDowns.Collect(ch)
}

func (e *eventMetrics) failed(reason string) {
	e.setUps.WithLabelValues(resultFailed).Inc()
	e.failures.WithLabelValues(reason).Inc()
}

// badAnnotation counts a container whose annotations did not parse:
// refused at CreateContainer, or found running at Synchronize.
func (m *Metrics) badAnnotation() {
	if m != nil {
		m.events.failed(reasonBadAnnotation)
	}
}

// setUp counts one call of the core for settings s: a container that asks
// for nothing is no set-up; a nil record without error is the core's way of
// saying the container has its own network namespace.
func (m *Metrics) setUp(s oci.Settings, pid int, rec *records.Record, err error, took time.Duration) {
	switch {
	case m == nil || !s.Wanted(): // nothing to count
	case err != nil:
		m.events.failed(failureReason(err, pid))
	case rec == nil:
		m.events.failed(reasonOwnNetwork)
	default:
		m.events.setUps.WithLabelValues(resultOK).Inc()
		m.events.latency.Observe(took.Seconds())
	}
}

// tearingDown is called before the core tears container id down; the
// function it returns counts the result, for a container that had a record
// only: stop and remove both tear down, and the second finds nothing.
func (m *Metrics) tearingDown(store *records.Store, id string) (done func(error)) {
	if m == nil {
		return func(error) {}
	}
	if _, err := store.Read(id); errors.Is(err, os.ErrNotExist) {
		return func(error) {}
	}
	return func(err error) {
		if err != nil {
			m.events.tearDowns.WithLabelValues(resultFailed).Inc()
			return
		}
		m.events.tearDowns.WithLabelValues(resultOK).Inc()
	}
}
