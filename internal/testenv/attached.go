package testenv

import (
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// cgroupAttachTypes are the cgroup hooks sockshim's programs use, and the
// socket ones beside them, so that a test sees any program left on a cgroup:
// sockshim's or anybody's.
var cgroupAttachTypes = []ebpf.AttachType{
	ebpf.AttachCGroupSockOps,
	ebpf.AttachCGroupInet4Bind, ebpf.AttachCGroupInet6Bind,
	ebpf.AttachCGroupInet4Connect, ebpf.AttachCGroupInet6Connect,
	ebpf.AttachCgroupInet4GetPeername, ebpf.AttachCgroupInet6GetPeername,
	ebpf.AttachCgroupInet4GetSockname, ebpf.AttachCgroupInet6GetSockname,
	ebpf.AttachCGroupUDP4Sendmsg, ebpf.AttachCGroupUDP6Sendmsg,
	ebpf.AttachCGroupUDP4Recvmsg, ebpf.AttachCGroupUDP6Recvmsg,
	ebpf.AttachCGroupInetSockCreate, ebpf.AttachCgroupInetSockRelease,
	ebpf.AttachCGroupInetIngress, ebpf.AttachCGroupInetEgress,
}

// AttachedPrograms counts the programs attached directly to the cgroup at
// cgroupPath.
func AttachedPrograms(cgroupPath string) (int, error) {
	f, err := os.Open(cgroupPath)
	if err != nil {
		return 0, fmt.Errorf("open cgroup %s: %w", cgroupPath, err)
	}
	defer f.Close()
	n := 0
	for _, attach := range cgroupAttachTypes {
		res, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: attach})
		if err != nil {
			return 0, fmt.Errorf("query %s programs of %s: %w", attach, cgroupPath, err)
		}
		n += len(res.Programs)
	}
	return n, nil
}
