package nriplugin

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestStubLoggerLevelsAndSource(t *testing.T) {
	var buf bytes.Buffer
	l := StubLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo, AddSource: true})))
	ctx := context.TODO()
	l.Debugf(ctx, "hidden %d", 1)
	l.Infof(ctx, "Started plugin %s...", "sockshim")
	l.Warnf(ctx, "warn %v", "w")
	l.Errorf(ctx, "error %q", "e")
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Contains(out, "hidden") {
		t.Fatalf("want the info, warn and error lines only:\n%s", out)
	}
	for i, want := range []string{`level=INFO source=`, `level=WARN source=`, `level=ERROR source=`} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "log_test.go:") {
			t.Errorf("line %q: want %q and the caller's file as source", lines[i], want)
		}
	}
	if !strings.Contains(lines[0], `msg="Started plugin sockshim..."`) || !strings.Contains(lines[2], `msg="error \"e\""`) {
		t.Errorf("messages not formatted:\n%s", out)
	}
}
