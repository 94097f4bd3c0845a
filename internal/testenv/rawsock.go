package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/rawsock"
)

// The raw sockets of the load, churn and backlog helpers (internal/rawsock).
// Every one is non-blocking from its creation, as an event loop's are: the
// bypass takes only sockets whose file is non-blocking, and a server's
// accepted ones only from a non-blocking listener.

// listen4 listens on ap (port 0: any) with a non-blocking socket and prints
// the ListenResult.
func listen4(ap netip.AddrPort, backlog int) (int, error) {
	fd, bound, err := rawsock.Listen(ap, backlog, rawsock.NonBlock|rawsock.ReuseAddr)
	if err != nil {
		return -1, err
	}
	emit(ListenResult{Addr: bound.String()})
	return fd, nil
}

// ioTimeout is how long one wait for a socket may last: longer is a hang.
const ioTimeout = 30 * time.Second

// hangWatch is the helpers' rawsock.Waiter: it waits with poll(), and a
// wait longer than ioTimeout fails as a hang, told with what the kernel
// holds for the connection.
var hangWatch rawsock.Waiter = hangs{}

type hangs struct{}

func (hangs) Wait(fd int, events int16) error {
	err := rawsock.Timeout(ioTimeout).Wait(fd, events)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: hang; %s", err, describeSocket(fd))
	}
	return err
}

// describeSocket tells what the kernel holds for fd's connection, for the
// message of a hang: its queues and ss's view of both ends.
func describeSocket(fd int) string {
	inq, _ := unix.IoctlGetInt(fd, unix.SIOCINQ)
	outq, _ := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	desc := fmt.Sprintf("SIOCINQ %d, SIOCOUTQ %d", inq, outq)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return desc
	}
	var port int
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		port = a.Port
	case *unix.SockaddrInet6:
		port = a.Port
	}
	filter := fmt.Sprintf("( sport = :%d or dport = :%d )", port, port)
	out, _ := exec.Command("ss", "-tnieomp", filter).CombinedOutput()
	return fmt.Sprintf("%s; ss:\n%s", desc, out)
}

// readToEOF reads fd until the peer's EOF and returns how much it read and
// the SHA-256 of it (also on error: of what was read until then).
func readToEOF(fd int) (int64, string, error) {
	h := sha256.New()
	n, err := rawsock.ReadToEOF(fd, make([]byte, 256<<10), hangWatch, h)
	return n, hex.EncodeToString(h.Sum(nil)), err
}
