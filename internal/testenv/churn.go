package testenv

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/rawsock"
)

// ChurnResult is printed by "churn dial".
type ChurnResult struct {
	Connections int `json:"connections"`
}

// churn listen ADDR N | churn dial ADDR N: N short connections one after the
// other, each carrying 64 bytes each way. listen prints ListenResult first.
func helperChurn(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: churn listen|dial ADDR N")
	}
	n, err := strconv.Atoi(args[2])
	ap, err2 := netip.ParseAddrPort(args[1])
	if err != nil || err2 != nil || !ap.Addr().Is4() {
		return errors.New("churn: N is a number and ADDR is IPv4:PORT")
	}
	buf := make([]byte, 64)
	if args[0] == "listen" {
		lfd, err := listen4(ap, 128)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			fd, err := rawsock.Accept(lfd, rawsock.NonBlock, hangWatch)
			if err != nil {
				return err
			}
			if err := rawsock.ReadFull(fd, buf, hangWatch); err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			if err := rawsock.SendAll(fd, buf, 0, hangWatch); err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			unix.Close(fd)
		}
		return nil
	}
	for i := 0; i < n; i++ {
		fd, err := rawsock.Dial(ap, rawsock.NonBlock, hangWatch)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		if err := rawsock.SendAll(fd, buf, 0, hangWatch); err != nil {
			return err
		}
		if err := rawsock.ReadFull(fd, buf, hangWatch); err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		// RST on close: no TIME_WAIT pile-up over many connections.
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		unix.Close(fd)
	}
	emit(ChurnResult{Connections: n})
	return nil
}
