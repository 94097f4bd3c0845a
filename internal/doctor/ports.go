package doctor

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/sockshim/sockshim/bpf"
)

// privilegedPorts says whether a group's process without
// CAP_NET_BIND_SERVICE may bind a port below 1024: sockshim's bind programs
// return 3, allow and BPF_RET_BIND_NO_CAP_NET_BIND_SERVICE, which the kernel
// takes from bind4/bind6 programs since 5.12; the verifier of an older one
// refuses any return value but 0 and 1. The probe loads such a program and
// attaches it nowhere.
func privilegedPorts() Check {
	c := Check{Name: "privileged ports without CAP_NET_BIND_SERVICE", Required: true}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:       ebpf.CGroupSockAddr,
		AttachType: ebpf.AttachCGroupInet4Bind,
		License:    "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 3),
			asm.Return(),
		},
	})
	if err != nil {
		c.Detail = "this kernel's bind programs cannot waive CAP_NET_BIND_SERVICE (return value 3 refused: " + err.Error() + "), so sockshim's port remap does not load"
		c.Fix = "Linux 5.12 or newer (the README's requirements)"
		return c
	}
	prog.Close()
	c.OK = true
	c.Detail = "supported: a process in a group binds its mapped ports below 1024 (listed or under io.sockshim.ports=all) without CAP_NET_BIND_SERVICE"
	return c
}

// portsAllLoads loads the bind programs of io.sockshim.ports=all, unpinned.
func portsAllLoads() Check {
	c := Check{Name: "ports=all programs load"}
	if err := bpf.ProbePortsAll(); err != nil {
		c.Detail = err.Error()
		c.Fix = "no io.sockshim.ports=all: such containers are refused, listed ports still work; Linux 5.18 or newer (bpf_loop, bpf_set_retval) is needed"
		return c
	}
	c.OK = true
	c.Detail = "bind programs that take a pool port at bind time accepted (bpf_loop, bpf_set_retval, bpf_sk_lookup_tcp/udp in cgroup bind4/bind6)"
	return c
}
