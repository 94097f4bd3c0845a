package rawsock

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Drops is the count of segments the kernel dropped on fd's way in
// (SO_MEMINFO's SK_MEMINFO_DROPS: a shut window, a pruned queue, no
// memory); x/sys/unix has no getter for SO_MEMINFO.
func Drops(fd int) (int64, error) {
	var info [unix.SK_MEMINFO_VARS]uint32
	size := uint32(len(info) * 4)
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("SO_MEMINFO: %w", errno)
	}
	return int64(info[unix.SK_MEMINFO_DROPS]), nil
}
