package doctor

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// fionread runs the sockmap receive-path probe with and without the no-op
// stream_verdict that sockshim attaches.
func fionread() Check {
	c := Check{Name: "sockmap FIONREAD", Fix: "sockshim attaches a no-op stream_verdict to work around it"}
	bare, sent, bareWoke, err := ProbeFIONREAD(false)
	if err != nil {
		c.Detail, c.Fix = fmt.Sprintf("probe failed: %v", err), "the bypass is not available"
		return c
	}
	fixed, _, fixedWoke, err := ProbeFIONREAD(true)
	if err != nil {
		c.Detail, c.Fix = fmt.Sprintf("probe with stream_verdict failed: %v", err), "the bypass is not available"
		return c
	}
	c.Detail = fmt.Sprintf("without an SK_SKB verdict FIONREAD=%d of %d (wakeup %v); with the no-op stream_verdict FIONREAD=%d of %d (wakeup %v)",
		bare, sent, bareWoke, fixed, sent, fixedWoke)
	if fixed != sent || !fixedWoke {
		c.Fix = "this kernel's sockmap receive path is broken even with the workaround: the bypass would break programs that size reads by FIONREAD"
		return c
	}
	if bare != sent {
		c.Detail += ": regression present, workaround works"
	}
	c.OK = true
	return c
}

// ProbeFIONREAD puts the receiving end of a loopback TCP connection into a
// fresh SOCKHASH (with a no-op SK_SKB stream_verdict when withVerdict), sends
// bytes from the other end, which is not in the map, so they arrive by the
// normal path, and reports ioctl(FIONREAD) on the receiver, how many bytes
// were sent, and whether epoll woke up. It reads the bytes back and fails if
// they differ. Nothing is attached to any cgroup.
func ProbeFIONREAD(withVerdict bool) (fionread, sent int, woke bool, err error) {
	sockhash, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.SockHash, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	if err != nil {
		return 0, 0, false, fmt.Errorf("create SOCKHASH: %w", err)
	}
	defer sockhash.Close()
	if withVerdict {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type:         ebpf.SkSKB,
			AttachType:   ebpf.AttachSkSKBStreamVerdict,
			License:      "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1 /* SK_PASS */), asm.Return()},
		})
		if err != nil {
			return 0, 0, false, fmt.Errorf("load stream_verdict: %w", err)
		}
		defer prog.Close()
		if err := link.RawAttachProgram(link.RawAttachProgramOptions{Target: sockhash.FD(), Program: prog, Attach: ebpf.AttachSkSKBStreamVerdict}); err != nil {
			return 0, 0, false, fmt.Errorf("attach stream_verdict: %w", err)
		}
	}

	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, 0, false, err
	}
	defer l.Close()
	client, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		return 0, 0, false, err
	}
	defer client.Close()
	accepted, err := l.Accept()
	if err != nil {
		return 0, 0, false, err
	}
	defer accepted.Close()
	file, err := accepted.(*net.TCPConn).File() // a blocking duplicate
	if err != nil {
		return 0, 0, false, err
	}
	defer file.Close()
	fd := int(file.Fd())
	if err := sockhash.Update(uint32(0), uint64(fd), ebpf.UpdateAny); err != nil {
		return 0, 0, false, fmt.Errorf("insert socket into SOCKHASH: %w", err)
	}

	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return 0, 0, false, err
	}
	defer unix.Close(epfd)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		return 0, 0, false, err
	}

	payload := make([]byte, 1000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	if _, err := client.Write(payload); err != nil {
		return 0, 0, false, err
	}
	sent = len(payload)
	events := make([]unix.EpollEvent, 1)
	n, err := unix.EpollWait(epfd, events, 1000)
	if err != nil && !errors.Is(err, unix.EINTR) {
		return 0, sent, false, err
	}
	woke = n > 0
	// Give a late queueing a moment before reading the count.
	time.Sleep(20 * time.Millisecond)
	fionread, err = unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return 0, sent, woke, fmt.Errorf("FIONREAD: %w", err)
	}

	got := make([]byte, 0, sent)
	buf := make([]byte, sent)
	unix.SetNonblock(fd, false)
	tv := unix.Timeval{Sec: 1}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	for len(got) < sent {
		m, err := unix.Read(fd, buf)
		if err != nil || m == 0 {
			return fionread, sent, woke, fmt.Errorf("read back after %d of %d bytes: %v", len(got), sent, err)
		}
		got = append(got, buf[:m]...)
	}
	if string(got) != string(payload) {
		return fionread, sent, woke, errors.New("the bytes read back differ from those sent")
	}
	return fionread, sent, woke, nil
}
