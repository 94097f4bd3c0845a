package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sockshim/sockshim/internal/cmdline"
	"github.com/sockshim/sockshim/internal/group"
	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/oci"
)

const runUsage = `sockshim run [--ports SPECS] [--bypass[=PORTS]] [OPTIONS] -- CMD [ARG...]

Runs CMD in a fresh child cgroup with sockshim's treatment, no container
runtime needed. CMD's first instruction already runs in the cgroup. Its
stdio is passed through, SIGINT, SIGTERM, SIGHUP and SIGQUIT are forwarded
to it, and sockshim exits with its exit code (128+N when a signal N ended
it). Afterwards whatever CMD left running in the cgroup is killed, and the
cgroup, its pins and its record are removed.

  --ports SPECS         virtual ports, as io.sockshim.ports: PORT,
                        HOSTPORT:PORT or LOW-HIGH, each with an optional
                        /tcp (default) or /udp, comma-separated; all
                        (or all/tcp, all/udp) gives CMD the whole port
                        space: every port it binds gets a host port from
                        the pool then
  --bypass              opt CMD's TCP sockets into the loopback bypass
  --bypass=PORTS        the same, only for connections accepted on these
                        ports (PORT or LOW-HIGH, comma-separated) and CMD's
                        own outgoing ones, as io.sockshim.bypass=PORTS
  --pool LOW-HIGH       host ports to allocate from (default 20000-29999;
                        env SOCKSHIM_POOL)
  --name ID             id shown by sockshim ls (default run-<random>)
  --cgroup-parent DIR   cgroup v2 directory to create the group under
                        (default <cgroup v2 mount>/sockshim)
  --bpffs DIR, --state-dir DIR, --log-level LEVEL   as for every command

Exit status: CMD's, or 125 when sockshim could not set up or start CMD
(the error is one line on stderr), 2 for bad flags.

Example: two servers on "port 3000" at once
  sockshim run --ports 3000 -- python3 -m http.server 3000 &
  sockshim run --ports 3000 -- python3 -m http.server 3000 &
  sockshim ls
`

func cmdRun(args []string) int {
	fs := cmdline.NewFlagSet("run")
	portsFlag := fs.String("ports", "", "")
	var bypass bypassFlag
	fs.Var(&bypass, "bypass", "")
	poolOf := cmdline.AddPool(fs)
	name := fs.String("name", "", "")
	parent := fs.String("cgroup-parent", "", "")
	opts := cmdline.AddOptions(fs)
	if code, ok := cmdline.Parse(fs, runUsage, args); !ok {
		return code
	}
	if code, ok := cmdline.RequireRoot("run"); !ok {
		return code
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return cmdline.Fail(cmdline.ExitUsage, "run: no command given (sockshim run [FLAGS] -- CMD [ARG...])")
	}
	var (
		mappings []ports.Mapping
		all      ports.All
		err      error
	)
	if *portsFlag != "" {
		mappings, all, err = oci.ParsePorts(*portsFlag)
	}
	if err != nil {
		return cmdline.Fail(cmdline.ExitUsage, "run: --ports: %v", err)
	}
	pool, err := poolOf()
	if err != nil {
		return cmdline.Fail(cmdline.ExitUsage, "run: %v", err)
	}
	id := *name
	if id == "" {
		id = "run-" + strings.ToLower(rand.Text()[:8])
	}
	core, err := group.Open(opts.BPFFS, opts.StateDir, opts.Logger())
	if err != nil {
		return cmdline.Fail(cmdline.ExitRunFailure, "run: %v", err)
	}
	defer core.Close()
	want := records.Record{ID: id, Bypass: bypass.On, BypassPorts: bypass.Ports, Ports: mappings, All: all}
	g, err := core.StartRun(want, pool, *parent)
	if err != nil {
		return cmdline.Fail(cmdline.ExitRunFailure, "run: %v", err)
	}
	code, err := runCommand(g.Record.Cgroup, argv)
	if cerr := g.Close(); cerr != nil {
		opts.Logger().Warn("cleanup after run", "id", id, "error", cerr)
	}
	if err != nil {
		return cmdline.Fail(cmdline.ExitRunFailure, "run: %v", err)
	}
	return code
}

// runCommand starts argv inside the cgroup (clone3 with CLONE_INTO_CGROUP,
// so no instruction of it runs outside), forwards signals, and returns its
// exit code.
func runCommand(cg string, argv []string) (int, error) {
	fd, err := syscall.Open(cg, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open cgroup %s: %w", cg, err)
	}
	defer syscall.Close(fd)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}

	// Signals stay caught after the command ends (no signal.Stop): one
	// arriving while the group is torn down must not kill sockshim halfway
	// through its clean-up. Those are absorbed; sockshim exits right after.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exitErr.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("wait for %s: %w", argv[0], err)
	}
	return 0, nil
}
