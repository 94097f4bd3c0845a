package doctor

import "github.com/sockshim/sockshim/bpf"

// bypassLoads loads sockshim's own bypass programs, unpinned: the one check
// that covers the kernel's BTF (the flow control reads struct sock by CO-RE)
// and whatever the verifier of this kernel asks beyond the single features.
func bypassLoads() Check {
	c := Check{Name: "bypass programs load"}
	if err := bpf.ProbeBypass(); err != nil {
		c.Detail = err.Error()
		c.Fix = "no loopback bypass: containers with io.sockshim.bypass=true start on the normal path; a kernel with BTF (/sys/kernel/btf/vmlinux), 6.3 or newer, is needed"
		return c
	}
	c.OK = true
	c.Detail = "sockops, sk_msg and stream_verdict programs and their maps accepted"
	return c
}
