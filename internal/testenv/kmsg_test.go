package testenv

import (
	"fmt"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestKernelProblem(t *testing.T) {
	cases := []struct {
		record string
		msg    string
		bad    bool
	}{
		{"4,1234,5678,-;WARNING: CPU: 1 PID: 42 at net/core/skmsg.c:700 sk_psock_destroy+0x1/0x2\n SUBSYSTEM=net\n",
			"WARNING: CPU: 1 PID: 42 at net/core/skmsg.c:700 sk_psock_destroy+0x1/0x2", true},
		{"1,7,8,-;BUG: kernel NULL pointer dereference, address: 0000000000000000\n",
			"BUG: kernel NULL pointer dereference, address: 0000000000000000", true},
		{"4,9,10,c;refcount_t: underflow; use-after-free.\n", "refcount_t: underflow; use-after-free.", true},
		{"4,11,12,-; Call Trace:\n", " Call Trace:", true},
		{"6,13,14,-;TCP: request_sock_TCP: Possible SYN flooding on port 127.0.0.1:20001. Sending cookies.\n",
			"TCP: request_sock_TCP: Possible SYN flooding on port 127.0.0.1:20001. Sending cookies.", false},
		{"6,15,16,-;IPv6: ADDRCONF(NETDEV_CHANGE): veth0: link becomes ready\n", "IPv6: ADDRCONF(NETDEV_CHANGE): veth0: link becomes ready", false},
		// A key=value continuation line is not the message.
		{"6,17,18,-;sockshim test\n DEVICE=+bug:x WARNING:=y\n", "sockshim test", false},
		{"no separator", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		msg := kernelRecordMessage(c.record)
		bad := kernelProblem(msg)
		if msg != c.msg || bad != c.bad {
			t.Errorf("kernelProblem(%q) = %q, %v; want %q, %v", c.record, msg, bad, c.msg, c.bad)
		}
	}
}

// The watcher reads the real kernel log: a record written during the test
// is read back, so the check cannot pass by reading nothing.
func TestReadKernelMessagesSeesNewRecords(t *testing.T) {
	RequireRoot(t)
	fd := openKernelLogAtEnd(t)
	mark := "sockshim testenv kernel log probe " + RandomID()
	if err := writeKernelLog(mark); err != nil {
		t.Fatal(err)
	}
	msgs, _, err := readKernelMessages(fd)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(msgs, mark) {
		t.Errorf("the record %q written during the test was not read back from %q", mark, msgs)
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
