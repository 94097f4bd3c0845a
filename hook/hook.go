// Package hook is the OCI hook: it turns a runtime's call at one stage (the
// container's state on stdin, its annotations) into one call of the core,
// internal/group. The sockshim program's `hook` command is this package
// behind flags.
package hook

import (
	"errors"
	"fmt"
	"log/slog"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sockshim/sockshim/internal/group"
	"github.com/sockshim/sockshim/oci"
)

// Config is where the hook's state lives and what it allocates from.
type Config struct {
	BPFFS    string // bpffs directory of sockshim's pins
	StateDir string // directory of the group records
	Pool     group.Pool
	Log      *slog.Logger
}

// ErrUnknownStage is returned for a stage that is none of the three.
var ErrUnknownStage = errors.New("unknown stage")

// StageOf maps a state's status to the hook stage that sees it: "" for a
// status no stage sees.
func StageOf(status specs.ContainerState) string {
	switch status {
	case specs.StateCreating:
		return "createRuntime"
	case specs.StateCreated:
		return "prestart"
	case specs.StateStopped:
		return "poststop"
	}
	return ""
}

// Run acts for stage ("" means the one the state's status implies):
// prestart and createRuntime set the container's group up, poststop tears
// it down.
func Run(cfg Config, stage string, st *specs.State) error {
	if stage == "" {
		stage = StageOf(st.Status)
	}
	log := cfg.Log.With("container", st.ID, "stage", stage)
	switch stage {
	case "prestart", "createRuntime":
		return start(cfg, log, st)
	case "poststop":
		return stop(cfg, log, st)
	}
	return fmt.Errorf("%w %q for state status %q (want prestart, createRuntime or poststop)", ErrUnknownStage, stage, st.Status)
}

// annotations are the state's, or else the bundle config's.
func annotations(log *slog.Logger, st *specs.State) map[string]string {
	if len(st.Annotations) > 0 || st.Bundle == "" {
		return st.Annotations
	}
	config, err := oci.ReadConfig(st.Bundle)
	if err != nil {
		log.Debug("no bundle config", "error", err)
		return nil
	}
	return config.Annotations
}
