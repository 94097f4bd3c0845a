package main

import (
	"errors"
	"log/slog"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/group"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/oci"
)

const hookUsage = `sockshim hook [OPTIONS] [prestart|createRuntime|poststop]

The OCI hook entry point: reads the container's state JSON on stdin (to its
end) and acts for the stage given, or, when none is given, for the stage the
state's status implies (creating: createRuntime, created: prestart, stopped:
poststop). Runtimes run it from hooks.d (podman, CRI-O; see sockshim install)
or from config.json hooks (runc; see sockshim inject).

prestart, createRuntime
    Reads io.sockshim.ports and io.sockshim.bypass from the state's
    annotations (or the bundle's config.json). Without them it does nothing.
    Finds the container's cgroup v2 from /proc/PID/cgroup; where that cgroup
    is shared with other processes it makes a per-container child cgroup and
    moves the container's init process into it, before any of the
    container's code runs. A pid in the root cgroup is refused. It allocates the host ports, attaches the
    pinned programs to the cgroup and writes a record for ls, port and
    poststop. A bad annotation, a fixed host port that is taken, or a kernel
    without what the annotations need makes it exit 1 with one line on
    stderr, leaving nothing behind, and the runtime refuses to start the
    container. A container with its own network namespace already has its
    own port space: the hook logs a warning and does nothing.
poststop
    Detaches the container's programs, frees its host ports, removes the
    cgroup sockshim made and the record. It finds everything by container id
    and succeeds when there is nothing to clean.

  --pool LOW-HIGH    host ports to allocate from (default 20000-29999;
                     env SOCKSHIM_POOL)
  --log-file FILE    also log to FILE (the runtime may hide stderr)
  --bpffs DIR, --state-dir DIR, --log-level LEVEL   as for every command

Nothing is printed on stdout. Exit status: 0 done (or nothing to do),
1 failed (the one stderr line says what and why), 2 bad usage.
`

func init() {
	commands["hook"] = command{"OCI hook entry: reads the state on stdin", hookUsage, cmdHook}
}

func cmdHook(args []string) int {
	fs := newFlagSet("hook")
	poolFlag := fs.String("pool", envOr("SOCKSHIM_POOL", group.DefaultPool.String()), "")
	logFile := fs.String("log-file", "", "")
	opts := addOptions(fs)
	if code, ok := parse(fs, hookUsage, args); !ok {
		return code
	}
	if code, ok := requireRoot("hook"); !ok {
		return code
	}
	pool, err := group.ParsePool(*poolFlag)
	if err != nil {
		return fail(exitUsage, "hook: --pool: %v", err)
	}
	log, logToFile, closeLog, err := opts.hookLogger(*logFile)
	if err != nil {
		return fail(exitFailure, "hook: %v", err)
	}
	defer closeLog()
	st, err := oci.ReadState(os.Stdin)
	if err != nil {
		return fail(exitFailure, "hook: %v", err)
	}
	stage := fs.Arg(0)
	if stage == "" {
		stage = stageOf(st.Status)
	}
	h := &hookRun{opts: opts, pool: pool, log: log.With("container", st.ID, "stage", stage), state: st}
	switch stage {
	case "prestart", "createRuntime":
		err = h.start()
	case "poststop":
		err = h.stop()
	default:
		return fail(exitUsage, "hook: unknown stage %q for state status %q (want prestart, createRuntime or poststop)", stage, st.Status)
	}
	if err != nil {
		// One line on stderr, which the runtime shows; the log file gets
		// it too.
		logToFile.Error("hook failed", "container", st.ID, "stage", stage, "error", err)
		return fail(exitFailure, "hook %s %s: %v", stage, st.ID, err)
	}
	return exitOK
}

// stageOf maps a state's status to the hook stage that sees it.
func stageOf(status specs.ContainerState) string {
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

type hookRun struct {
	opts  *options
	pool  group.Pool
	log   *slog.Logger
	state *specs.State
}

// annotations are the state's, or else the bundle config's.
func (h *hookRun) annotations() (map[string]string, *specs.Spec) {
	var config *specs.Spec
	if h.state.Bundle != "" {
		c, err := oci.ReadConfig(h.state.Bundle)
		if err != nil {
			h.log.Debug("no bundle config", "error", err)
		} else {
			config = c
		}
	}
	if len(h.state.Annotations) > 0 || config == nil {
		return h.state.Annotations, config
	}
	return config.Annotations, config
}

func (h *hookRun) start() error {
	ann, config := h.annotations()
	settings, found, err := oci.ParseSettings(func(k string) (string, bool) { v, ok := ann[k]; return v, ok })
	if err != nil {
		return err
	}
	if !found || !settings.Wanted() {
		h.log.Debug("no sockshim annotations: nothing to do")
		return nil
	}
	pid := h.state.Pid
	if pid <= 0 {
		return errors.New("the OCI state has no pid: prestart and createRuntime need the container's init process")
	}
	if oci.HasOwnNetwork(config) {
		h.log.Warn(group.ErrOwnNetwork.Error())
		return nil
	}
	store, err := records.Open(h.opts.stateDir)
	if err != nil {
		return err
	}
	if _, err := store.Read(h.state.ID); err == nil {
		h.log.Debug("already set up")
		return nil
	}
	k, err := bpf.Open(h.opts.bpffs)
	if err != nil {
		return err
	}
	defer k.Close()
	rec, err := group.SetupContainer(k, store, "container", h.state.ID, pid, settings, h.pool)
	if errors.Is(err, group.ErrOwnNetwork) {
		h.log.Warn(err.Error())
		return nil
	}
	if err != nil {
		return err
	}
	for _, w := range rec.Warnings {
		h.log.Warn(w)
	}
	h.log.Info("set up", "cgroup", rec.Cgroup, "bypass", rec.Bypass, "ports", rec.Ports)
	return nil
}

func (h *hookRun) stop() error {
	store, err := records.Open(h.opts.stateDir)
	if err != nil {
		return err
	}
	if _, err := store.Read(h.state.ID); errors.Is(err, os.ErrNotExist) {
		h.log.Debug("no record: nothing to clean")
		return nil
	}
	k, err := bpf.Open(h.opts.bpffs)
	if err != nil {
		return err
	}
	defer k.Close()
	if err := group.TeardownContainer(k, store, h.state.ID); err != nil {
		return err
	}
	h.log.Info("cleaned up")
	return nil
}
