package testenv

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/rawsock"
)

// Accepted is printed by "queued" once it holds the connection.
type Accepted struct {
	Accepted bool `json:"accepted"`
}

// QueuedResult is printed by "queued": what FIONREAD said once the writer
// was done, and how many bytes the reader then read.
type QueuedResult struct {
	FIONREAD int   `json:"fionread"`
	Read     int64 `json:"read"`
}

// queued ADDR RCVBUF: accept one connection on a listener whose SO_RCVBUF
// is RCVBUF, read nothing until the peer has shut its sending side down
// (seen as EPOLLRDHUP), then print FIONREAD and read everything. A reader
// that sizes its reads by FIONREAD (as Java NIO's available() does) sees
// that count.
func helperQueued(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: queued ADDR RCVBUF")
	}
	ap, err := netip.ParseAddrPort(args[0])
	if err != nil {
		return err
	}
	rcvbuf, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	lfd, err := listen4(ap, 16)
	if err != nil {
		return err
	}
	if err := unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
		return fmt.Errorf("SO_RCVBUF: %w", err)
	}
	fd, err := rawsock.Accept(lfd, rawsock.NonBlock, hangWatch)
	if err != nil {
		return err
	}
	emit(Accepted{Accepted: true})
	if err := hangWatch.Wait(fd, unix.POLLRDHUP); err != nil {
		return err
	}
	// The last bytes may still be on their way behind the FIN's wakeup.
	time.Sleep(50 * time.Millisecond)
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return fmt.Errorf("FIONREAD: %w", err)
	}
	read, _, err := readToEOF(fd)
	if err != nil {
		return err
	}
	emit(QueuedResult{FIONREAD: n, Read: read})
	return nil
}

// WriteResult is printed by "write".
type WriteResult struct {
	Wrote int `json:"wrote"`
}

// write ADDR N GO: connect, wait until the file GO exists (the test makes
// it once the reader holds the connection), write N bytes, shut the sending
// side down and wait for the reader's close.
func helperWrite(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: write ADDR N GO")
	}
	ap, err := netip.ParseAddrPort(args[0])
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	fd, err := rawsock.Dial(ap, rawsock.NonBlock, hangWatch)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(ioTimeout); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(args[2]); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %s", args[2], ioTimeout)
		}
	}
	if err := rawsock.WriteAll(fd, make([]byte, n), hangWatch); err != nil {
		return err
	}
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	emit(WriteResult{Wrote: n})
	_, _, err = readToEOF(fd)
	return err
}
