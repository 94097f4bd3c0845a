package rawsock

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Every socket is non-blocking exactly when made with NonBlock, and
// close-on-exec always: listener, dialled and accepted, TCP and AF_UNIX.
func TestFlagsAsAsked(t *testing.T) {
	check := func(what string, fd int, nonBlock bool) {
		t.Helper()
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil || (fl&unix.O_NONBLOCK != 0) != nonBlock {
			t.Errorf("%s: flags %#x (%v), want O_NONBLOCK %v", what, fl, err, nonBlock)
		}
		if fd, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || fd&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s: fd flags %#x (%v), want FD_CLOEXEC", what, fd, err)
		}
	}
	for _, nonBlock := range []bool{true, false} {
		f := Flags(0)
		if nonBlock {
			f = NonBlock
		}
		w := Waiter(Timeout(time.Second))
		for _, network := range []string{"tcp", "unix"} {
			var lfd, cfd int
			var err error
			if network == "tcp" {
				var addr netip.AddrPort
				if lfd, addr, err = Listen(netip.AddrPortFrom(Loopback, 0), 1, f|ReuseAddr); err != nil {
					t.Fatal(err)
				}
				if v, _ := unix.GetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR); v != 1 {
					t.Errorf("listener: SO_REUSEADDR %d, want 1", v)
				}
				cfd, err = Dial(addr, f|NoDelay, w)
				if v, _ := unix.GetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_NODELAY); err == nil && v != 1 {
					t.Errorf("dialled: TCP_NODELAY %d, want 1", v)
				}
			} else {
				path := filepath.Join(t.TempDir(), "s")
				if lfd, err = ListenUnix(path, 1, f); err != nil {
					t.Fatal(err)
				}
				cfd, err = DialUnix(path, f, w, nil)
			}
			if err != nil {
				t.Fatalf("%s: dial: %v", network, err)
			}
			afd, err := Accept(lfd, f, w)
			if err != nil {
				t.Fatalf("%s: accept: %v", network, err)
			}
			what := network + map[bool]string{true: " non-blocking", false: " blocking"}[nonBlock]
			check(what+" listener", lfd, nonBlock)
			check(what+" dialled", cfd, nonBlock)
			check(what+" accepted", afd, nonBlock)
			for _, fd := range []int{lfd, cfd, afd} {
				unix.Close(fd)
			}
		}
	}
	client, server := pair(t)
	check("pair client", client, true)
	check("pair server", server, true)
}
