package nriplugin

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/cgroup"
	"github.com/sockshim/sockshim/internal/group"
	"github.com/sockshim/sockshim/oci"
)

// Why a set-up failed: a fixed set, so that the failure counter has a
// bounded number of series whatever the errors say.
const (
	reasonBadAnnotation = "bad_annotation" // the annotations do not parse
	reasonNoPid         = "no_pid"         // the runtime gave no init process
	reasonOwnNetwork    = "own_network"    // annotations on a container with its own network namespace do nothing
	reasonAlreadySetUp  = "already_set_up" // another set-up of the same id won the race
	reasonKernel        = "kernel"         // eBPF: loading, the verifier, attaching
	reasonCgroup        = "cgroup"         // the container's cgroup: finding, making, moving into it
	reasonOther         = "other"
)

var failureReasons = []string{reasonBadAnnotation, reasonNoPid, reasonOwnNetwork, reasonAlreadySetUp, reasonKernel, reasonCgroup, reasonOther}

// failureReason classifies a set-up error of the core. Where the core has a
// sentinel, errors.Is decides; the kernel and the cgroup have none, so their
// own typed errors do (cilium/ebpf's, a path under the cgroup v2 mount).
// pid is the one the runtime gave: the core's refusal of a missing pid is a
// plain error, but the plugin knows what it passed.
func failureReason(err error, pid int) string {
	var portErr *oci.PortError
	var verifierErr *ebpf.VerifierError
	switch {
	case errors.As(err, &portErr):
		return reasonBadAnnotation
	case pid <= 0:
		return reasonNoPid
	case errors.Is(err, group.ErrOwnNetwork):
		return reasonOwnNetwork
	case errors.Is(err, group.ErrAlreadySetUp):
		return reasonAlreadySetUp
	case errors.Is(err, bpf.ErrBypassUnavailable), errors.Is(err, ebpf.ErrNotSupported),
		errors.Is(err, ebpf.ErrMapIncompatible), errors.As(err, &verifierErr):
		return reasonKernel
	case onCgroupFS(err):
		return reasonCgroup
	}
	return reasonOther
}

// onCgroupFS reports whether err is a file operation on the cgroup v2
// hierarchy (cgroup.procs, mkdir, rmdir of the container's cgroup).
func onCgroupFS(err error) bool {
	var pathErr *fs.PathError
	if !errors.As(err, &pathErr) {
		return false
	}
	mnt, mntErr := cgroup.Mountpoint()
	if mntErr != nil {
		return false
	}
	rel, relErr := filepath.Rel(mnt, pathErr.Path)
	return relErr == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
