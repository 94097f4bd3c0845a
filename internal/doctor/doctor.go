// Package doctor checks a host for what sockshim needs and says what is
// missing and how to fix it. It changes nothing on the host.
package doctor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/cgroup"
)

// Check is one line of the report.
type Check struct {
	Name     string
	OK       bool
	Detail   string // what was found, or what is missing
	Fix      string // how to fix it, when not OK
	Required bool   // false: its failure only degrades (e.g. the bypass)
}

// Options say where sockshim keeps its state.
type Options struct {
	BPFFS string
}

// Run performs every check.
func Run(opts Options) []Check {
	checks := []Check{kernelRelease(), privileges(), bpfSyscall(), cgroupV2(), bpffs(opts.BPFFS)}
	checks = append(checks, mapTypes()...)
	checks = append(checks, programTypes()...)
	checks = append(checks, helpers()...)
	checks = append(checks, fionread())
	return checks
}

// Report prints one line per check; ok is false when a required one failed.
func Report(w io.Writer, checks []Check) (ok bool) {
	ok = true
	for _, c := range checks {
		switch {
		case c.OK:
			fmt.Fprintf(w, "ok    %s: %s\n", c.Name, c.Detail)
		case c.Required:
			ok = false
			fmt.Fprintf(w, "FAIL  %s: %s (fix: %s)\n", c.Name, c.Detail, c.Fix)
		default:
			fmt.Fprintf(w, "WARN  %s: %s (%s)\n", c.Name, c.Detail, c.Fix)
		}
	}
	return ok
}

func kernelRelease() Check {
	var uts unix.Utsname
	unix.Uname(&uts)
	detail := unix.ByteSliceToString(uts.Release[:])
	if data, err := os.ReadFile("/sys/kernel/security/lockdown"); err == nil {
		detail += ", lockdown " + strings.TrimSpace(string(data))
	}
	return Check{Name: "kernel", OK: true, Detail: detail}
}

func privileges() Check {
	c := Check{Name: "privileges", Required: true, Fix: "run sockshim as root (it needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN)"}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		c.Detail = fmt.Sprintf("cannot read capabilities: %v", err)
		return c
	}
	has := func(capability uint) bool { return data[capability/32].Effective&(1<<(capability%32)) != 0 }
	var missing []string
	for _, p := range []struct {
		name string
		bit  uint
	}{{"CAP_SYS_ADMIN", unix.CAP_SYS_ADMIN}, {"CAP_NET_ADMIN", unix.CAP_NET_ADMIN}, {"CAP_BPF", unix.CAP_BPF}} {
		if !has(p.bit) {
			missing = append(missing, p.name)
		}
	}
	if len(missing) > 0 {
		c.Detail = "missing " + strings.Join(missing, ", ")
		return c
	}
	c.OK, c.Detail = true, fmt.Sprintf("uid %d with CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN", os.Geteuid())
	return c
}

func bpfSyscall() Check {
	c := Check{Name: "bpf() syscall", Required: true, Fix: "a kernel built with CONFIG_BPF_SYSCALL, and root"}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	m.Close()
	c.OK, c.Detail = true, "maps can be created"
	return c
}

func cgroupV2() Check {
	c := Check{Name: "cgroup v2", Required: true, Fix: "mount it (mount -t cgroup2 none /sys/fs/cgroup) or boot with systemd.unified_cgroup_hierarchy=1"}
	mnt, err := cgroup.Mountpoint()
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	c.OK, c.Detail = true, "mounted at "+mnt
	return c
}

func bpffs(root string) Check {
	c := Check{Name: "bpffs", Required: true, OK: true}
	p := root
	for {
		var st unix.Statfs_t
		err := unix.Statfs(p, &st)
		if err == nil {
			if st.Type == unix.BPF_FS_MAGIC {
				c.Detail = fmt.Sprintf("%s is on a bpffs", root)
				return c
			}
			break
		}
		if !errors.Is(err, unix.ENOENT) || p == "/" {
			break
		}
		p = parentDir(p)
	}
	if strings.HasPrefix(root, "/sys/fs/bpf") {
		c.Detail = "not mounted; sockshim mounts it on /sys/fs/bpf on first use"
		return c
	}
	c.OK = false
	c.Detail = fmt.Sprintf("%s is not on a bpffs", root)
	c.Fix = fmt.Sprintf("mount -t bpf bpf %s, or point SOCKSHIM_BPFFS below /sys/fs/bpf", parentDir(root))
	return c
}

func parentDir(p string) string {
	i := strings.LastIndexByte(strings.TrimRight(p, "/"), '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func mapTypes() []Check {
	var out []Check
	for _, m := range []struct {
		name     string
		typ      ebpf.MapType
		required bool
		use      string
	}{
		{"map SOCKHASH", ebpf.SockHash, false, "the bypass"},
		{"map cgroup storage", ebpf.CGroupStorage, true, "per-group configuration"},
		{"map percpu hash", ebpf.PerCPUHash, false, "the bypass counters"},
		{"map hash", ebpf.Hash, true, "the port maps"},
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
		{"program sock_ops", ebpf.SockOps, false, "the bypass"},
		{"program sk_msg", ebpf.SkMsg, false, "the bypass"},
		{"program sk_skb", ebpf.SkSKB, false, "the FIONREAD fix of the bypass"},
		{"program cgroup sock_addr", ebpf.CGroupSockAddr, true, "the port remap"},
	} {
		out = append(out, feature(p.name, p.required, p.use, features.HaveProgramType(p.typ)))
	}
	return out
}

func helpers() []Check {
	var out []Check
	for _, h := range []struct {
		name     string
		typ      ebpf.ProgramType
		fn       asm.BuiltinFunc
		required bool
		use      string
	}{
		{"helper get_local_storage in sock_addr", ebpf.CGroupSockAddr, asm.FnGetLocalStorage, true, "the port remap"},
		{"helper get_local_storage in sock_ops", ebpf.SockOps, asm.FnGetLocalStorage, false, "the bypass"},
		{"helper sock_hash_update in sock_ops", ebpf.SockOps, asm.FnSockHashUpdate, false, "the bypass"},
		{"helper get_current_ancestor_cgroup_id in sk_msg", ebpf.SkMsg, asm.FnGetCurrentAncestorCgroupId, false, "the bypass counters"},
		{"helper msg_redirect_hash in sk_msg", ebpf.SkMsg, asm.FnMsgRedirectHash, false, "the bypass"},
	} {
		out = append(out, feature(h.name, h.required, h.use, features.HaveProgramHelper(h.typ, h.fn)))
	}
	return out
}

func feature(name string, required bool, use string, err error) Check {
	c := Check{Name: name, Required: required}
	switch {
	case err == nil:
		c.OK, c.Detail = true, "available"
	case errors.Is(err, ebpf.ErrNotSupported):
		c.Detail = "not supported by this kernel: no " + use
		c.Fix = "a newer kernel (see the README's requirements)"
	default:
		c.Detail = fmt.Sprintf("probe failed: %v", err)
		c.Fix = "run as root on a kernel with BPF enabled"
	}
	return c
}
