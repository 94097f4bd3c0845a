package nriplugin

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	nrilog "github.com/containerd/nri/pkg/log"
)

// StubLogger adapts l to NRI's logger, for stub.WithLogger: without it the
// stub logs through logrus, in another format and ignoring --log-level.
func StubLogger(l *slog.Logger) nrilog.Logger { return stubLogger{l} }

type stubLogger struct{ l *slog.Logger }

func (s stubLogger) Debugf(ctx context.Context, format string, args ...any) {
	s.log(ctx, slog.LevelDebug, format, args)
}

func (s stubLogger) Infof(ctx context.Context, format string, args ...any) {
	s.log(ctx, slog.LevelInfo, format, args)
}

func (s stubLogger) Warnf(ctx context.Context, format string, args ...any) {
	s.log(ctx, slog.LevelWarn, format, args)
}

func (s stubLogger) Errorf(ctx context.Context, format string, args ...any) {
	s.log(ctx, slog.LevelError, format, args)
}

// log formats only records the handler keeps, and names the stub's caller
// as their source rather than this adapter.
func (s stubLogger) log(ctx context.Context, level slog.Level, format string, args []any) {
	if !s.l.Enabled(ctx, level) {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(3, pcs[:]) // runtime.Callers, log, Debugf…Errorf
	r := slog.NewRecord(time.Now(), level, fmt.Sprintf(format, args...), pcs[0])
	_ = s.l.Handler().Handle(ctx, r)
}
