// Package doctor checks a host for what sockshim needs and says what is
// missing and how to fix it. It is read-only: it mounts nothing, pins
// nothing and attaches nothing to any cgroup. Its probes create short-lived
// maps and programs in this process (cilium/ebpf's features package) and
// loopback TCP connections (ProbeFIONREAD and the sockmap read probes).
package doctor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/cgroup"
)

// DefaultBPFFS is sockshim's bpffs root when Options.BPFFS is empty.
const DefaultBPFFS = bpf.DefaultRoot

// Check is one line of the report.
type Check struct {
	Name     string // e.g. "bpf() syscall"
	OK       bool
	Detail   string // what was found, or what is missing
	Fix      string // how to fix it when !OK (empty when OK)
	Required bool   // false for checks that only degrade (e.g. the bypass) or only inform
	// Info marks a finding that needs no action (sockshim already handles
	// it either way): printed as "info", with OK true and no Fix.
	Info bool
}

// Options say where sockshim keeps its state.
type Options struct {
	BPFFS string // sockshim's bpffs root, default DefaultBPFFS
}

// Run performs every check, in report order.
func Run(opts Options) []Check {
	root := opts.BPFFS
	if root == "" {
		root = DefaultBPFFS
	}
	checks := []Check{
		kernelRelease(),
		kernelLockdown(),
		privileges(),
		bpfSyscall(),
		cgroupV2(),
		bpffs(root),
	}
	checks = append(checks, mapTypes()...)
	checks = append(checks, programTypes()...)
	checks = append(checks, helpers()...)
	checks = append(checks, privilegedPorts(), portsAllLoads())
	checks = append(checks, fionreadCheck())
	checks = append(checks, readPathChecks()...)
	checks = append(checks, bypassLoads())
	return checks
}

// Report prints one line per check, "ok   NAME: DETAIL",
// "info NAME: DETAIL" or "FAIL NAME: DETAIL (fix: FIX)". ok is false when a
// Required check failed; a failed check that is not Required (it only
// degrades a feature) is printed as WARN and leaves ok true.
func Report(w io.Writer, checks []Check) (ok bool) {
	ok = true
	for _, c := range checks {
		if c.Info {
			fmt.Fprintf(w, "info %s: %s\n", c.Name, c.Detail)
			continue
		}
		if c.OK {
			fmt.Fprintf(w, "ok   %s: %s\n", c.Name, c.Detail)
			continue
		}
		if !c.Required {
			// Degrades only (the bypass): say so, the exit status stays 0.
			fmt.Fprintf(w, "WARN %s: %s (%s)\n", c.Name, c.Detail, c.Fix)
			continue
		}
		ok = false
		fmt.Fprintf(w, "FAIL %s: %s (fix: %s)\n", c.Name, c.Detail, c.Fix)
	}
	return ok
}

// kernelRelease is informational: uname's release.
func kernelRelease() Check {
	c := Check{Name: "kernel", OK: true}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		c.Detail = fmt.Sprintf("uname: %v", err)
		return c
	}
	c.Detail = fmt.Sprintf("%s %s %s", unix.ByteSliceToString(uts.Sysname[:]),
		unix.ByteSliceToString(uts.Release[:]), unix.ByteSliceToString(uts.Machine[:]))
	return c
}

const lockdownFile = "/sys/kernel/security/lockdown"

// kernelLockdown is informational: sockshim's programs use no helper that
// lockdown restricts (no kernel memory reads), so any mode is fine.
func kernelLockdown() Check {
	c := Check{Name: "kernel lockdown", OK: true}
	data, err := os.ReadFile(lockdownFile)
	if err != nil {
		c.Detail = fmt.Sprintf("unknown: %s is not readable (securityfs not mounted?)", lockdownFile)
		if cmdline, err := os.ReadFile("/proc/cmdline"); err == nil {
			for _, f := range strings.Fields(string(cmdline)) {
				if mode, ok := strings.CutPrefix(f, "lockdown="); ok {
					c.Detail += "; the kernel command line asks for lockdown=" + mode
				}
			}
		}
		c.Detail += "; sockshim needs no helper that lockdown restricts"
		return c
	}
	c.Detail = lockdownMode(string(data)) + " (sockshim needs no helper that lockdown restricts)"
	return c
}

// lockdownMode picks the selected mode out of "none [integrity] confidentiality".
func lockdownMode(s string) string {
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]") {
			mode := strings.Trim(f, "[]")
			if mode == "none" {
				return "off"
			}
			return "on, " + mode + " mode"
		}
	}
	return "unknown (" + strings.TrimSpace(s) + ")"
}

// privileges checks the effective capabilities of this process.
func privileges() Check {
	c := Check{Name: "privileges", Required: true}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		c.Detail = fmt.Sprintf("cannot read the capabilities: %v", err)
		c.Fix = "run sockshim as root"
		return c
	}
	eff := uint64(data[1].Effective)<<32 | uint64(data[0].Effective)
	has := func(capability int) bool { return eff&(1<<uint(capability)) != 0 }

	var missing []string
	// CAP_SYS_ADMIN stands in for CAP_BPF on kernels before 5.8.
	if !has(unix.CAP_BPF) && !has(unix.CAP_SYS_ADMIN) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(unix.CAP_NET_ADMIN) {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if len(missing) > 0 {
		c.Detail = fmt.Sprintf("euid %d, effective capabilities %#x lack %s", os.Geteuid(), eff, strings.Join(missing, " and "))
		c.Fix = "run sockshim as root (it needs CAP_BPF and CAP_NET_ADMIN, and CAP_SYS_ADMIN to mount bpffs)"
		return c
	}
	var have []string
	for _, p := range []struct {
		name string
		bit  int
	}{{"CAP_BPF", unix.CAP_BPF}, {"CAP_NET_ADMIN", unix.CAP_NET_ADMIN}, {"CAP_SYS_ADMIN", unix.CAP_SYS_ADMIN}} {
		if has(p.bit) {
			have = append(have, p.name)
		}
	}
	c.OK = true
	c.Detail = fmt.Sprintf("euid %d with %s", os.Geteuid(), strings.Join(have, ", "))
	if !has(unix.CAP_SYS_ADMIN) {
		c.Detail += " (no CAP_SYS_ADMIN: sockshim cannot mount bpffs itself)"
	}
	return c
}

// bpfSyscall creates a one-entry array map and loads a socket filter.
func bpfSyscall() Check {
	c := Check{Name: "bpf() syscall", Required: true, Fix: "a kernel with CONFIG_BPF_SYSCALL=y, run as root (kernel.unprivileged_bpf_disabled does not matter for root)"}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		c.Detail = fmt.Sprintf("cannot create a map: %v", err)
		return c
	}
	m.Close()
	if err := features.HaveProgramType(ebpf.SocketFilter); err != nil {
		c.Detail = fmt.Sprintf("maps can be created but no program loads: %v", err)
		return c
	}
	c.OK, c.Detail, c.Fix = true, "maps can be created and programs loaded", ""
	return c
}

// cgroupV2 finds the cgroup v2 hierarchy in /proc/self/mountinfo.
func cgroupV2() Check {
	c := Check{Name: "cgroup v2", Required: true}
	mnt, err := cgroup.Mountpoint()
	if err != nil {
		c.Detail = err.Error()
		c.Fix = "mount it (mount -t cgroup2 none /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host) or boot with systemd.unified_cgroup_hierarchy=1"
		return c
	}
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil {
		c.Detail = fmt.Sprintf("listed at %s in /proc/self/mountinfo but statfs fails: %v", mnt, err)
		c.Fix = "check the mount table of this mount namespace"
		return c
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		c.Detail = fmt.Sprintf("listed at %s in /proc/self/mountinfo but that path is not a cgroup2 filesystem (magic %#x)", mnt, st.Type)
		c.Fix = "something is mounted over it; unmount it or mount cgroup2 elsewhere"
		return c
	}
	c.OK, c.Detail = true, "mounted at "+mnt
	return c
}

// bpffs reports whether root, or its nearest existing ancestor, is on a
// bpffs. It never mounts anything.
func bpffs(root string) Check {
	c := Check{Name: "bpffs", Required: true}
	st, err := bpf.CheckFS(root)
	switch {
	case err != nil:
		c.Detail, c.Fix = err.Error(), "check the permissions of "+st.Base
	case st.OnBPFFS && st.Base == filepath.Clean(root):
		c.OK, c.Detail = true, st.Base+" is on a bpffs"
	case st.OnBPFFS:
		c.OK, c.Detail = true, fmt.Sprintf("%s is on a bpffs (%s is created on first use)", st.Base, root)
	case st.AutoMount:
		c.OK, c.Detail = true, fmt.Sprintf("not mounted; sockshim mounts it on first use (by hand: mount -t bpf bpf %s)", bpf.SystemBPFFS)
	default:
		c.Detail = fmt.Sprintf("%s is not on a bpffs, and sockshim only mounts one itself on %s", root, bpf.SystemBPFFS)
		c.Fix = fmt.Sprintf("mkdir -p %s && mount -t bpf bpf %s, or point SOCKSHIM_BPFFS below %s", root, root, bpf.SystemBPFFS)
	}
	return c
}

func mapTypes() []Check {
	var out []Check
	for _, m := range []struct {
		name     string
		typ      ebpf.MapType
		required bool
		use      string
	}{
		{"map sockhash", ebpf.SockHash, false, "no loopback bypass"},
		{"map cgroup storage", ebpf.CGroupStorage, true, "no per-container configuration"},
		{"map hash", ebpf.Hash, true, "no port maps"},
		{"map percpu hash", ebpf.PerCPUHash, false, "no bypass byte counters"},
	} {
		out = append(out, feature(m.name, m.required, m.use, features.HaveMapType(m.typ)))
	}
	return out
}

func programTypes() []Check {
	var out []Check
	for _, p := range []struct {
		name     string
		typ      ebpf.ProgramType
		required bool
		use      string
	}{
		{"program sock_ops", ebpf.SockOps, false, "no loopback bypass"},
		{"program sk_msg", ebpf.SkMsg, false, "no loopback bypass"},
		{"program sk_skb", ebpf.SkSKB, false, "no FIONREAD workaround, so no loopback bypass"},
		{"program cgroup sock_addr", ebpf.CGroupSockAddr, true, "no port virtualisation"},
	} {
		out = append(out, feature(p.name, p.required, p.use, features.HaveProgramType(p.typ)))
	}
	// cilium/ebpf's features package has no probe for bpf_link on cgroups,
	// which sockshim attaches and pins every program with. No check here:
	// cgroup links came in Linux 5.7, before the getsockname and getpeername
	// hooks (5.8) that port virtualisation needs.
	return out
}

func helpers() []Check {
	var out []Check
	for _, h := range []struct {
		prog     string
		typ      ebpf.ProgramType
		helper   string
		fn       asm.BuiltinFunc
		required bool
		use      string
	}{
		{"sk_msg", ebpf.SkMsg, "msg_redirect_hash", asm.FnMsgRedirectHash, false, "no loopback bypass"},
		{"sock_ops", ebpf.SockOps, "sock_hash_update", asm.FnSockHashUpdate, false, "no loopback bypass"},
		{"cgroup sock_addr", ebpf.CGroupSockAddr, "get_local_storage", asm.FnGetLocalStorage, true, "no port virtualisation"},
		{"sock_ops", ebpf.SockOps, "get_local_storage", asm.FnGetLocalStorage, false, "no loopback bypass"},
		{"sk_msg", ebpf.SkMsg, "get_current_cgroup_id", asm.FnGetCurrentCgroupId, false, "no bypass byte counters"},
		{"sk_msg", ebpf.SkMsg, "get_current_ancestor_cgroup_id", asm.FnGetCurrentAncestorCgroupId, false, "no bypass byte counters"},
		{"sk_msg", ebpf.SkMsg, "sk_storage_get", asm.FnSkStorageGet, false, "no bypass flow control, so no loopback bypass"},
		{"sk_msg", ebpf.SkMsg, "skc_to_tcp_sock", asm.FnSkcToTcpSock, false, "no bypass flow control, so no loopback bypass"},
		{"sock_ops", ebpf.SockOps, "sock_ops_cb_flags_set", asm.FnSockOpsCbFlagsSet, false, "no bypass flow control, so no loopback bypass"},
	} {
		name := fmt.Sprintf("helper %s in %s", h.helper, h.prog)
		out = append(out, feature(name, h.required, h.use, features.HaveProgramHelper(h.typ, h.fn)))
	}
	return out
}

// feature turns the result of a cilium/ebpf feature probe into a check.
func feature(name string, required bool, use string, err error) Check {
	c := Check{Name: name, Required: required}
	switch {
	case err == nil:
		c.OK, c.Detail = true, "available"
	case errors.Is(err, ebpf.ErrNotSupported):
		c.Detail = "not supported by this kernel: " + use
		c.Fix = "a newer kernel, or one built with the BPF and cgroup options (see the README's requirements)"
	default:
		c.Detail = fmt.Sprintf("probe failed (%v): %s", err, use)
		c.Fix = "run as root on a kernel with BPF enabled"
	}
	return c
}
