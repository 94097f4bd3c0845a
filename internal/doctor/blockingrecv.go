package doctor

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// blockingRecv is one blocking recvfrom(2) running on a goroutine locked to
// its own OS thread, so that the probe can see when that thread sleeps in
// the call and can signal exactly that thread.
type blockingRecv struct {
	tid  int
	done chan recvReturn
	ret  *recvReturn // set once the call has returned
}

type recvReturn struct {
	n   int
	err error // the errno as the kernel returned it: no retry on EINTR
}

// startRecv calls recvfrom(fd, buf, flags) on its own thread. buf must not
// be touched until the call has returned.
func startRecv(fd int, buf []byte, flags int) *blockingRecv {
	r := &blockingRecv{done: make(chan recvReturn, 1)}
	tids := make(chan int, 1)
	go func() {
		// Never unlocked: the runtime ends the thread with the goroutine,
		// so a tid the probe signals never runs another goroutine.
		runtime.LockOSThread()
		tids <- unix.Gettid()
		// The raw syscall, not unix.Recvfrom (socketcall on some
		// architectures): asleep looks for this very syscall number.
		n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd),
			uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(flags), 0, 0)
		if errno != 0 {
			r.done <- recvReturn{err: errno}
			return
		}
		r.done <- recvReturn{n: int(n)}
	}()
	r.tid = <-tids
	return r
}

// asleep waits up to timeout for the thread to sleep inside recvfrom, or for
// the call to return. /proc/PID/task/TID/syscall shows the syscall number
// only while the thread is blocked in it ("running" otherwise).
func (r *blockingRecv) asleep(timeout time.Duration) (bool, error) {
	path := fmt.Sprintf("/proc/self/task/%d/syscall", r.tid)
	want := strconv.Itoa(unix.SYS_RECVFROM)
	deadline := time.Now().Add(timeout)
	for {
		if r.returned() {
			return false, nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			// The thread exits as soon as the call returns (ESRCH).
			if r.returned() {
				return false, nil
			}
			return false, fmt.Errorf("see whether the receiving thread blocks: %w", err)
		}
		if f := strings.Fields(string(data)); len(f) > 0 && f[0] == want {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("recvfrom neither blocked nor returned within %v", timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// returned says, without waiting, whether the call has returned.
func (r *blockingRecv) returned() bool {
	if r.ret != nil {
		return true
	}
	select {
	case ret := <-r.done:
		r.ret = &ret
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the call to return.
func (r *blockingRecv) wait(timeout time.Duration) (recvReturn, bool) {
	if r.returned() {
		return *r.ret, true
	}
	if timeout <= 0 {
		return recvReturn{}, false
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case ret := <-r.done:
		r.ret = &ret
		return ret, true
	case <-t.C:
		return recvReturn{}, false
	}
}

// finish waits up to timeout for the call to return; past it, it shuts
// fd down to wake the call, so that a probe never hangs and its sockets
// are not closed under a read still blocked in them.
func (r *blockingRecv) finish(fd int, timeout time.Duration) (recvReturn, error) {
	if ret, ok := r.wait(timeout); ok {
		return ret, nil
	}
	if err := unix.Shutdown(fd, unix.SHUT_RDWR); err != nil {
		return recvReturn{}, fmt.Errorf("recvfrom blocked past %v, and shutdown to wake it failed: %w", timeout, err)
	}
	if _, ok := r.wait(probeTimeout); !ok {
		return recvReturn{}, fmt.Errorf("recvfrom blocked past %v, even after shutdown", timeout)
	}
	return recvReturn{}, fmt.Errorf("recvfrom blocked past %v (woken by shutdown)", timeout)
}
