package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/cgroup"
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

  --pool LOW-HIGH    host ports to allocate from (default 20000-29999)
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
	poolFlag := fs.String("pool", group.DefaultPool.String(), "")
	logFile := fs.String("log-file", "", "")
	opts := addOptions(fs)
	if code, ok := parse(fs, hookUsage, args); !ok {
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
	portsValue, hasPorts := ann[oci.AnnotationPorts]
	bypassValue, hasBypass := ann[oci.AnnotationBypass]
	if !hasPorts && !hasBypass {
		h.log.Debug("no sockshim annotations: nothing to do")
		return nil
	}
	var ports []oci.PortSpec
	if hasPorts {
		var err error
		if ports, err = oci.ParsePorts(portsValue); err != nil {
			return oci.AnnotationError(oci.AnnotationPorts, err)
		}
	}
	bypass := false
	if hasBypass {
		var err error
		if bypass, err = oci.ParseBypass(bypassValue); err != nil {
			return oci.AnnotationError(oci.AnnotationBypass, err)
		}
	}
	if len(ports) == 0 && !bypass {
		return nil
	}
	pid := h.state.Pid
	if pid <= 0 {
		return errors.New("the OCI state has no pid: prestart and createRuntime need the container's init process")
	}
	if oci.HasOwnNetwork(config) || ownNetns(pid) {
		// Its own namespace has its own ports; and its loopback tuples
		// could equal another namespace's, so no bypass either.
		h.log.Warn("container has its own network namespace: io.sockshim annotations do nothing there")
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
	mnt, err := cgroup.Mountpoint()
	if err != nil {
		return err
	}
	cg, movedFrom, err := containerCgroup(mnt, h.state.ID, pid)
	if err != nil {
		return err
	}
	k, err := bpf.Open(h.opts.bpffs)
	if err != nil {
		undoCgroup(mnt, cg, movedFrom, pid)
		return err
	}
	defer k.Close()
	rec, err := group.Setup(k, store, group.Spec{ID: h.state.ID, Kind: "container", Cgroup: cg, Bypass: bypass, Ports: ports, Pool: h.pool, CreatedCgroup: movedFrom != ""})
	if err != nil {
		undoCgroup(mnt, cg, movedFrom, pid)
		return err
	}
	h.log.Info("set up", "cgroup", cg, "bypass", bypass, "ports", rec.Ports)
	return nil
}

// containerCgroup returns the cgroup to attach to. Where the init process
// shares its cgroup with other processes, it makes a child cgroup for the
// container alone and moves the process there; movedFrom is then the cgroup
// the process came from. A process in the root cgroup is refused: no runtime
// leaves a container there, and such a pid is more likely the host's own.
func containerCgroup(mnt, id string, pid int) (cg, movedFrom string, err error) {
	cur, err := cgroup.ForPID(mnt, pid)
	if err != nil {
		return "", "", err
	}
	if cur == mnt {
		return "", "", fmt.Errorf("process %d is in the root cgroup of the v2 hierarchy: refusing (a container runtime gives each container a cgroup of its own)", pid)
	}
	procs, err := cgroup.Procs(cur)
	if err != nil {
		return "", "", err
	}
	if len(procs) == 1 && procs[0] == pid {
		return cur, "", nil
	}
	child := filepath.Join(cur, "sockshim-"+id)
	if err := cgroup.Create(mnt, child); err != nil {
		return "", "", err
	}
	if err := cgroup.Move(child, pid); err != nil {
		os.Remove(child)
		return "", "", err
	}
	return child, cur, nil
}

// undoCgroup moves the process back and removes the cgroup the hook made.
func undoCgroup(mnt, cg, from string, pid int) {
	if from == "" {
		return
	}
	cgroup.Move(from, pid)
	os.Remove(cg)
}

func (h *hookRun) stop() error {
	store, err := records.Open(h.opts.stateDir)
	if err != nil {
		return err
	}
	rec, err := store.Read(h.state.ID)
	if errors.Is(err, os.ErrNotExist) {
		h.log.Debug("no record: nothing to clean")
		return nil
	}
	k, kerr := bpf.Open(h.opts.bpffs)
	if kerr != nil {
		return kerr
	}
	defer k.Close()
	if err := group.Teardown(k, store, h.state.ID); err != nil {
		return err
	}
	if rec != nil && rec.CreatedCgroup {
		mnt, err := cgroup.Mountpoint()
		if err != nil {
			return err
		}
		if err := cgroup.Remove(mnt, rec.Cgroup); err != nil {
			return err
		}
	}
	h.log.Info("cleaned up")
	return nil
}

// ownNetns reports whether process pid is in another network namespace than
// this process (the runtime's).
func ownNetns(pid int) bool {
	a, err1 := os.Stat(fmt.Sprintf("/proc/%d/ns/net", pid))
	b, err2 := os.Stat("/proc/self/ns/net")
	return err1 == nil && err2 == nil && !os.SameFile(a, b)
}
