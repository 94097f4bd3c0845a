package testenv

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/mountinfo"
)

// UnmountUnder detaches every mount at or below dir (a pod's shm, a
// container's rootfs left by a containerd that died, podman's overlay work
// directory), deepest first, and
// fails if one stays: removing the files of a mounted filesystem is never
// what a test's cleanup should do.
func UnmountUnder(dir string) error {
	below := func(p string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	mounts, err := MountsOf(func(string) bool { return true })
	if err != nil {
		return err
	}
	for _, m := range slices.Backward(mounts) {
		if below(m) {
			unix.Unmount(m, unix.MNT_DETACH)
		}
	}
	if mounts, err = MountsOf(func(string) bool { return true }); err != nil {
		return err
	}
	for _, m := range mounts {
		if below(m) {
			return fmt.Errorf("%s is still mounted", m)
		}
	}
	return nil
}

// MountsOf lists the mount points whose filesystem type fstype accepts, in
// mount order.
func MountsOf(accept func(fstype string) bool) ([]string, error) {
	mounts, err := mountinfo.Read()
	if err != nil {
		return nil, err
	}
	var points []string
	for _, m := range mounts {
		if accept(m.FSType) {
			points = append(points, m.Point)
		}
	}
	return points, nil
}
