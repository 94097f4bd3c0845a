package testenv

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
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
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 5 || sep+1 >= len(fields) || !accept(fields[sep+1]) {
			continue
		}
		mounts = append(mounts, unescape(fields[4]))
	}
	return mounts, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
