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
	"WARNING:", "BUG:", "Oops", "general protection fault", kernelTraceMark,
	"refcount_t:", "UBSAN:", "KASAN:", "list_add corruption", "list_del corruption",
}

// WatchKernelLog fails t, in cleanup, for every kernel log record of a
// kernel bug printed while t ran (a test of another package running at the
// same time counts too: any such record is a failure), except the reports of
// known kernel races (kernelrace.go), which it logs.
func WatchKernelLog(t testing.TB) {
	t.Helper()
	fd := openKernelLogAtEnd(t)
	t.Cleanup(func() {
		msgs, lost, err := readKernelMessages(fd)
		if err != nil {
			t.Errorf("read the kernel log: %v", err)
		}
		if lost {
			t.Errorf("kernel log records were lost (the log wrapped during the test)")
		}
		problems, known := judgeKernelMessages(msgs)
		for _, msg := range problems {
			t.Errorf("kernel log during the test: %s", msg)
		}
		for _, msg := range known {
			t.Logf("kernel log during the test, a known kernel race: %s", msg)
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

// readKernelMessages reads the records of fd (a non-blocking /dev/kmsg
// reader) up to the newest and returns their messages, and whether records
// were overwritten before they could be read.
func readKernelMessages(fd int) (msgs []string, lost bool, err error) {
	buf := make([]byte, 8192) // a read returns one whole record, up to 8 KiB
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return msgs, lost, nil
		case errors.Is(err, unix.EPIPE):
			// The next read goes on from the oldest record still there.
			lost = true
			continue
		case err != nil:
			return msgs, lost, fmt.Errorf("read /dev/kmsg: %w", err)
		}
		msgs = append(msgs, kernelRecordMessage(string(buf[:n])))
	}
}

// kernelRecordMessage returns the message of one /dev/kmsg record
// ("prio,seq,usec,flags;message\n" then " KEY=value" lines).
func kernelRecordMessage(record string) string {
	_, msg, ok := strings.Cut(record, ";")
	if !ok {
		return ""
	}
	msg, _, _ = strings.Cut(msg, "\n")
	return msg
}

// kernelProblem reports whether a kernel log message reports a kernel bug.
func kernelProblem(msg string) bool {
	for _, mark := range kernelProblemMarks {
		if strings.Contains(msg, mark) {
			return true
		}
	}
	return false
}
