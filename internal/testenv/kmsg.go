package testenv

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Kernel log lines that mean the kernel hit a bug: a sockmap or psock bug
// shows as a WARNING with a call trace, a BUG, or a corruption report.
var kernelProblemMarks = []string{
	"WARNING:", "BUG:", "Oops", "general protection fault", "Call Trace:",
	"refcount_t:", "UBSAN:", "KASAN:", "list_add corruption", "list_del corruption",
}

// WatchKernelLog fails t, in cleanup, for every kernel log record of a
// kernel bug printed while t ran (a test of another package running at the
// same time counts too: any such record is a failure).
func WatchKernelLog(t testing.TB) {
	t.Helper()
	fd := openKernelLogAtEnd(t)
	t.Cleanup(func() {
		problems, err := readKernelRecords(fd, nil)
		if err != nil {
			t.Errorf("read the kernel log: %v", err)
		}
		for _, p := range problems {
			t.Errorf("kernel log during the test: %s", p)
		}
	})
}

// openKernelLogAtEnd opens a non-blocking reader of the kernel log past its
// newest record, closed in cleanup.
func openKernelLogAtEnd(t testing.TB) int {
	t.Helper()
	RequireRoot(t)
	// Raw syscalls, not os.File: Go would put the fd in its poller and
	// wait for a record instead of returning EAGAIN at the end.
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open the kernel log: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	// A reader of /dev/kmsg starts at the oldest record; SEEK_END moves it
	// past the newest, so only what comes later is read.
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		t.Fatalf("seek to the end of the kernel log: %v", err)
	}
	return fd
}

// readKernelRecords reads the records of fd (a non-blocking /dev/kmsg
// reader) up to the newest, passes each message to each (if not nil) and
// returns the messages of those that report a kernel bug.
func readKernelRecords(fd int, each func(msg string)) ([]string, error) {
	var problems []string
	buf := make([]byte, 8192) // a read returns one whole record, up to 8 KiB
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return problems, nil
		case errors.Is(err, unix.EPIPE):
			// Records were overwritten before they were read: the
			// next read goes on from the oldest still there.
			problems = append(problems, "records were lost (the kernel log wrapped during the test)")
			continue
		case err != nil:
			return problems, fmt.Errorf("read /dev/kmsg: %w", err)
		}
		msg, bad := kernelProblem(string(buf[:n]))
		if each != nil {
			each(msg)
		}
		if bad {
			problems = append(problems, msg)
		}
	}
}

// writeKernelLog adds msg to the kernel log as one record.
func writeKernelLog(msg string) error {
	fd, err := unix.Open("/dev/kmsg", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/kmsg for writing: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(msg+"\n")); err != nil {
		return fmt.Errorf("write to /dev/kmsg: %w", err)
	}
	return nil
}

// kernelProblem returns the message of one /dev/kmsg record
// ("prio,seq,usec,flags;message\n" then " KEY=value" lines) and whether it
// reports a kernel bug.
func kernelProblem(record string) (string, bool) {
	_, msg, ok := strings.Cut(record, ";")
	if !ok {
		return "", false
	}
	msg, _, _ = strings.Cut(msg, "\n")
	for _, mark := range kernelProblemMarks {
		if strings.Contains(msg, mark) {
			return msg, true
		}
	}
	return msg, false
}
