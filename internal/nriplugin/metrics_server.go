package nriplugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// MetricsPath is where Serve answers scrapes.
const MetricsPath = "/metrics"

// Serve listens on addr (host:port; port 0 picks one) and serves the metrics
// at MetricsPath until ctx is done. It returns once listening, with the
// address bound, so that a bad or busy address fails the command at its
// start instead of going unnoticed in the background.
func (m *Metrics) Serve(ctx context.Context, addr string) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(MetricsPath, m.Handler())
	// Timeouts: a scraper that stalls must not hold connections forever.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("metrics: serve", "address", l.Addr().String(), "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx) // best effort: the process is stopping
	}()
	m.log.Info("serving metrics", "address", l.Addr().String(), "path", MetricsPath)
	return l.Addr(), nil
}
