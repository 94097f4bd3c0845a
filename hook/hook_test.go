package hook

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestStageOf(t *testing.T) {
	for status, want := range map[specs.ContainerState]string{
		specs.StateCreating: "createRuntime", specs.StateCreated: "prestart",
		specs.StateStopped: "poststop", specs.StateRunning: "",
	} {
		if got := StageOf(status); got != want {
			t.Errorf("StageOf(%q) = %q, want %q", status, got, want)
		}
	}
}

// Without annotations the hook touches nothing: no state directory, no
// pins; an unknown stage or status is a usage error.
func TestRunWithoutAnnotationsOrStage(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{BPFFS: filepath.Join(dir, "bpffs"), StateDir: filepath.Join(dir, "state"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	st := &specs.State{ID: "c1", Status: specs.StateCreated, Pid: os.Getpid()}
	if err := Run(cfg, "", st); err != nil {
		t.Fatalf("prestart without annotations: %v", err)
	}
	for _, p := range []string{cfg.BPFFS, cfg.StateDir} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a hook with nothing to do (%v)", p, err)
		}
	}
	st.Status = specs.StateRunning
	if err := Run(cfg, "", st); !errors.Is(err, ErrUnknownStage) {
		t.Errorf("status running: %v, want ErrUnknownStage", err)
	}
	if err := Run(cfg, "poststart", st); !errors.Is(err, ErrUnknownStage) {
		t.Errorf("stage poststart: %v, want ErrUnknownStage", err)
	}
}
