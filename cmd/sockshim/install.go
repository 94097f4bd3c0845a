package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/cmdline"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/oci"
)

const installUsage = `sockshim install [--hooks-dir DIR] [--pool LOW-HIGH] [OPTIONS]

Writes sockshim.json, the oci-hooks(5) file (version 1.0.0) that makes
podman and CRI-O run this binary (by its absolute path) as the prestart and
poststop hook of every container with an io.sockshim.ports or
io.sockshim.bypass annotation. --bpffs, --state-dir and --pool, when given,
are written into the hook's arguments.

  --hooks-dir DIR   where to write it (default
                    /usr/share/containers/oci/hooks.d; a file of the same
                    name in /etc/containers/oci/hooks.d masks it)

Then: podman run --network host --annotation io.sockshim.ports=3000 ...
(podman reads only the default directories unless given --hooks-dir).
`

const injectUsage = `sockshim inject [--remove] [--pool LOW-HIGH] [OPTIONS] BUNDLE

Adds this binary as the prestart and poststop hook of the OCI bundle's
config.json, for plain runc, keeping everything else in the file as it is.
Running it twice changes nothing; --remove takes the hooks out again.
Put the annotations in the config's "annotations" as well.
`

// hookArgs are the flags the hook must be run with: every one whose value
// (from a flag or the environment) differs from the built-in default, since
// the runtime runs the hook with its own environment.
func hookArgs(fs *flag.FlagSet) []string {
	builtin := []struct{ name, def string }{
		{"bpffs", bpf.DefaultRoot}, {"state-dir", records.DefaultDir}, {"pool", ""}, {"log-level", "warn"},
	}
	var args []string
	for _, b := range builtin {
		if v := fs.Lookup(b.name).Value.String(); v != b.def && v != "" {
			args = append(args, "--"+b.name, v)
		}
	}
	return args
}

// selfPath is this binary's absolute path, links resolved.
func selfPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own binary: %w", err)
	}
	return filepath.EvalSymlinks(exe)
}

func cmdInstall(args []string) int {
	fs := cmdline.NewFlagSet("install")
	dir := fs.String("hooks-dir", oci.HooksDir, "")
	cmdline.AddPool(fs)
	cmdline.AddOptions(fs)
	if code, ok := cmdline.Parse(fs, installUsage, args); !ok {
		return code
	}
	self, err := selfPath()
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "install: %v", err)
	}
	h, err := oci.NewHooksFile(self, hookArgs(fs)...)
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "install: %v", err)
	}
	path, err := oci.WriteHooksFile(*dir, h)
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "install: %v", err)
	}
	fmt.Println(path)
	return cmdline.ExitOK
}

func cmdInject(args []string) int {
	fs := cmdline.NewFlagSet("inject")
	remove := fs.Bool("remove", false, "")
	cmdline.AddPool(fs)
	cmdline.AddOptions(fs)
	if code, ok := cmdline.Parse(fs, injectUsage, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return cmdline.Fail(cmdline.ExitUsage, "inject: give exactly one bundle directory")
	}
	self, err := selfPath()
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "inject: %v", err)
	}
	if *remove {
		err = oci.RemoveHooks(fs.Arg(0), self)
	} else {
		err = oci.InjectHooks(fs.Arg(0), self, hookArgs(fs)...)
	}
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "inject: %v", err)
	}
	return cmdline.ExitOK
}
