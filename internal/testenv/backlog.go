package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/rawsock"
)

// The backlog helper: a sender that floods a peer which does not read yet,
// then goes on while the peer reads everything.
//
//	backlog listen ADDR DELAY_MS [halfclose]
//	                                    prints ListenResult, accepts one
//	                                    connection (and shuts its sending side
//	                                    down with halfclose), reads nothing
//	                                    for DELAY_MS, then reads to EOF and
//	                                    prints BacklogResult
//	backlog dial ADDR BYTES SEED        writes 64 KiB blocks without waiting
//	                                    until the first EAGAIN (Flooded), then
//	                                    the rest of BYTES waiting with poll(),
//	                                    half-closes and prints BacklogResult
//	backlog dial ADDR flood SEED        the same, but stops at the first
//	                                    EAGAIN and closes with its bytes
//	                                    still queued behind a shut window

// BacklogResult is one end's outcome.
type BacklogResult struct {
	ExchangeResult
	// Flooded is what the sender could queue before its first EAGAIN: how
	// much an unread peer lets it hold.
	Flooded int64 `json:"flooded"`
}

func helperBacklog(args []string) error {
	usage := errors.New("usage: backlog listen ADDR DELAY_MS [halfclose] | backlog dial ADDR BYTES SEED")
	if len(args) != 4 && !(len(args) == 3 && args[0] == "listen") {
		return usage
	}
	ap, err := netip.ParseAddrPort(args[1])
	if err != nil || !ap.Addr().Is4() {
		return errors.New("backlog: ADDR is IPv4:PORT")
	}
	if args[0] == "listen" {
		delay, err := strconv.Atoi(args[2])
		if err != nil {
			return errors.New("backlog: DELAY_MS is a number")
		}
		halfClose := len(args) == 4
		if halfClose && args[3] != "halfclose" {
			return usage
		}
		return backlogReceive(ap, time.Duration(delay)*time.Millisecond, halfClose)
	}
	total, err1 := strconv.ParseInt(args[2], 10, 64)
	if args[2] == "flood" {
		total, err1 = -1, nil
	}
	seed, err2 := strconv.ParseUint(args[3], 10, 64)
	if err1 != nil || err2 != nil {
		return errors.New("backlog: BYTES (or flood) and SEED are numbers")
	}
	return backlogSend(ap, total, seed)
}

func backlogReceive(ap netip.AddrPort, delay time.Duration, halfClose bool) error {
	lfd, err := listen4(ap, 1)
	if err != nil {
		return err
	}
	fd, err := rawsock.Accept(lfd, rawsock.NonBlock, hangWatch)
	unix.Close(lfd)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if halfClose {
		if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
			return err
		}
	}
	time.Sleep(delay)
	var res BacklogResult
	if res.Recv, res.RecvSHA, err = readToEOF(fd); err != nil {
		return err
	}
	emit(res)
	return nil
}

// backlogSend sends total bytes, or with total < 0 until the first EAGAIN.
func backlogSend(ap netip.AddrPort, total int64, seed uint64) error {
	fd, err := rawsock.Dial(ap, rawsock.NonBlock, hangWatch)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	data := seededData(seed)
	h := sha256.New()
	block := make([]byte, 64<<10)
	var res BacklogResult
	flooding := true
send:
	for total < 0 || res.Sent < total {
		b := block
		if total >= 0 {
			b = block[:min(int64(len(block)), total-res.Sent)]
		}
		data.Read(b)
		for off := 0; off < len(b); {
			n, err := unix.Write(fd, b[off:])
			if errors.Is(err, unix.EAGAIN) && flooding {
				flooding = false
				res.Flooded = res.Sent
				if total < 0 {
					break send
				}
			}
			if retry, err := rawsock.Again(fd, unix.POLLOUT, err, hangWatch); err != nil {
				return fmt.Errorf("write after %d bytes: %w", res.Sent, err)
			} else if retry {
				continue
			}
			h.Write(b[off : off+n])
			off += n
			res.Sent += int64(n)
		}
	}
	if flooding {
		res.Flooded = res.Sent
	}
	res.SentSHA = hex.EncodeToString(h.Sum(nil))
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		return err
	}
	emit(res)
	return nil
}
