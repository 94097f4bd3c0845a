package main

import (
	"errors"
	"os"

	"github.com/sockshim/sockshim/hook"
	"github.com/sockshim/sockshim/internal/cmdline"
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

func cmdHook(args []string) int {
	fs := cmdline.NewFlagSet("hook")
	poolOf := cmdline.AddPool(fs)
	logFile := fs.String("log-file", "", "")
	opts := cmdline.AddOptions(fs)
	if code, ok := cmdline.Parse(fs, hookUsage, args); !ok {
		return code
	}
	if code, ok := cmdline.RequireRoot("hook"); !ok {
		return code
	}
	pool, err := poolOf()
	if err != nil {
		return cmdline.Fail(cmdline.ExitUsage, "hook: %v", err)
	}
	log, logToFile, closeLog, err := opts.HookLogger(*logFile)
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "hook: %v", err)
	}
	defer closeLog()
	st, err := oci.ReadState(os.Stdin)
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "hook: %v", err)
	}
	stage := fs.Arg(0)
	if stage == "" {
		stage = hook.StageOf(st.Status)
	}
	err = hook.Run(hook.Config{BPFFS: opts.BPFFS, StateDir: opts.StateDir, Pool: pool, Log: log}, stage, st)
	if errors.Is(err, hook.ErrUnknownStage) {
		return cmdline.Fail(cmdline.ExitUsage, "hook: %v", err)
	}
	if err != nil {
		// One line on stderr, which the runtime shows; the log file gets
		// it too.
		logToFile.Error("hook failed", "container", st.ID, "stage", stage, "error", err)
		return cmdline.Fail(cmdline.ExitFailure, "hook %s %s: %v", stage, st.ID, err)
	}
	return cmdline.ExitOK
}
