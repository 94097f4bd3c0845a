package bpf

import (
	"fmt"
	"os"

	"github.com/cilium/ebpf/link"
)

// AttachedPrograms counts the programs attached directly to a cgroup at any
// of the attach points sockshim uses (its own or anybody's).
func AttachedPrograms(cgroupPath string) (int, error) {
	f, err := os.Open(cgroupPath)
	if err != nil {
		return 0, fmt.Errorf("open cgroup %s: %w", cgroupPath, err)
	}
	defer f.Close()
	n := 0
	for _, p := range cgroupPrograms {
		res, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: p.attach})
		if err != nil {
			return 0, fmt.Errorf("query %s programs of %s: %w", p.attach, cgroupPath, err)
		}
		n += len(res.Programs)
	}
	return n, nil
}
