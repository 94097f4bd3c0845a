package main

import (
	"os"
	"path/filepath"
	"syscall"

	"github.com/sockshim/sockshim/internal/cmdline"
)

// nriProgram is the NRI plugin's own program, installed beside sockshim.
const nriProgram = "sockshim-nri"

// nriSocketEnv is what a runtime sets for a pre-registered plugin it starts
// (NRI's api.PluginSocketEnvVar; the api package is the plugin's to import).
const nriSocketEnv = "NRI_PLUGIN_SOCKET"

// cmdNRI becomes sockshim-nri (exec: same pid, environment and stdio, so a
// runtime that started sockshim as a pre-registered plugin talks to the
// plugin itself).
func cmdNRI(args []string) int {
	self, err := os.Executable()
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "nri: find own binary: %v", err)
	}
	prog := filepath.Join(filepath.Dir(self), nriProgram)
	err = syscall.Exec(prog, append([]string{prog}, args...), os.Environ())
	return cmdline.Fail(cmdline.ExitFailure, "nri: run %s: %v (the NRI plugin is installed beside sockshim: make build puts both in bin/)", prog, err)
}
