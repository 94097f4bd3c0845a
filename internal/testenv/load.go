package testenv

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/rawsock"
)

// The load helper: many concurrent TCP connections, each sending random
// messages of 1 B to 1 MiB both ways for a while, over raw sockets
// so that every sender kind the kernel offers can be used.
//
//	load listen ADDR CONNS SECONDS SEED   prints ListenResult, then results
//	load dial   ADDR CONNS SECONDS SEED [turn-blocking]   prints results
//
// Sockets are non-blocking and every read and write waits with poll(), as
// the event-driven programs the bypass guarantees (epoll/poll: Go, nginx,
// Node, Java NIO) do. Blocking reads are not used: with the bypass on kernel
// 6.18 a blocking read can fail with EAGAIN when another thread writes the
// same socket (tcp_bpf does not wait again after a wakeup without data).
//
// Connection i (sent as an 8-byte header ahead of its data) uses:
// TCP_NODELAY when i is even; sender Senders[(i/2)%4]; and, after both
// directions ended with a FIN, a plain close or an RST close (i/8 odd).
// With turn-blocking the dialer's odd connections turn their socket
// blocking at a random moment of the run, while both directions send: the
// bypass then takes them off the map mid-stream (bpf/c/leave.h).

// Senders are the ways a connection writes.
var Senders = []string{"write", "msg_more", "sendfile", "splice"}

// LoadConn is one connection's outcome.
type LoadConn struct {
	Index  int    `json:"index"`
	Sender string `json:"sender"`
	ExchangeResult
	Error string `json:"error,omitempty"`
}

func helperLoad(args []string) error {
	turn := len(args) == 6 && args[0] == "dial" && args[5] == "turn-blocking"
	if len(args) != 5 && !turn {
		return errors.New("usage: load listen|dial ADDR CONNS SECONDS SEED, or load dial ... turn-blocking")
	}
	conns, err1 := strconv.Atoi(args[2])
	secs, err2 := strconv.ParseFloat(args[3], 64)
	seed, err3 := strconv.ParseUint(args[4], 10, 64)
	ap, err4 := netip.ParseAddrPort(args[1])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || !ap.Addr().Is4() {
		return errors.New("load: CONNS, SECONDS, SEED are numbers and ADDR is IPv4:PORT")
	}
	dur := time.Duration(secs * float64(time.Second))
	results := make([]LoadConn, conns)
	var wg sync.WaitGroup
	run := func(fd, i int) {
		defer wg.Done()
		turnAt := time.Duration(-1)
		if turn && i%2 == 1 {
			turnAt = turnMoment(dur, seed+uint64(i)*1000)
		}
		results[i] = loadConn(fd, i, dur, seed+uint64(i)*1000, turnAt)
	}
	if args[0] == "listen" {
		lfd, err := listen4(ap, conns)
		if err != nil {
			return err
		}
		for n := 0; n < conns; n++ {
			fd, err := rawsock.Accept(lfd, rawsock.NonBlock, hangWatch)
			if err != nil {
				return err
			}
			var hdr [8]byte
			if err := rawsock.ReadFull(fd, hdr[:], hangWatch); err != nil {
				return fmt.Errorf("connection header: %w", err)
			}
			i := int(binary.LittleEndian.Uint64(hdr[:]))
			if i < 0 || i >= conns {
				return fmt.Errorf("connection index %d out of range", i)
			}
			wg.Add(1)
			go run(fd, i)
		}
		unix.Close(lfd)
	} else {
		for i := 0; i < conns; i++ {
			fd, err := rawsock.Dial(ap, rawsock.NonBlock, hangWatch)
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			var hdr [8]byte
			binary.LittleEndian.PutUint64(hdr[:], uint64(i))
			if err := rawsock.SendAll(fd, hdr[:], 0, hangWatch); err != nil {
				return err
			}
			wg.Add(1)
			go run(fd, i)
		}
	}
	wg.Wait()
	emit(results)
	return nil
}

// loadConn runs one connection both ways and closes it; at turnAt (unless
// negative) its sender turns the socket blocking.
func loadConn(fd, i int, dur time.Duration, seed uint64, turnAt time.Duration) LoadConn {
	res := LoadConn{Index: i, Sender: Senders[(i/2)%len(Senders)]}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, boolInt(i%2 == 0))
	sent := make(chan error, 1)
	go func() {
		var err error
		res.Sent, res.SentSHA, err = loadSend(fd, res.Sender, dur, seed, turnAt)
		// Half-close also after a failed send, so the peer's reader ends
		// instead of waiting for data that will not come.
		if serr := unix.Shutdown(fd, unix.SHUT_WR); err == nil {
			err = serr
		}
		sent <- err
	}()
	var rerr error
	res.Recv, res.RecvSHA, rerr = readToEOF(fd)
	if err := <-sent; err != nil {
		res.Error = err.Error()
	} else if rerr != nil {
		res.Error = rerr.Error()
	}
	if (i/8)%2 == 1 {
		// An RST close discards what the peer has not acknowledged yet:
		// wait until it has everything, then reset.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ); err != nil || n == 0 {
				break
			}
		}
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	unix.Close(fd)
	return res
}

// turnMoment is when in the first nine tenths of a run of dur a connection
// turns its socket blocking. Every read and write still works then: a
// blocking call waits in the kernel instead of in poll().
func turnMoment(dur time.Duration, seed uint64) time.Duration {
	return time.Duration(rand.New(rand.NewPCG(seed, 13)).Int64N(int64(dur) * 9 / 10))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// loadSend sends random messages of 1 B to 1 MiB for dur with the sender
// kind, returning the count and the SHA-256 of what was sent.
func loadSend(fd int, sender string, dur time.Duration, seed uint64, turnAt time.Duration) (int64, string, error) {
	data := seededData(seed)
	sizes := rand.New(rand.NewPCG(seed, 11))
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var total int64
	var pipeR, pipeW int = -1, -1
	defer func() {
		for _, f := range []int{pipeR, pipeW} {
			if f >= 0 {
				unix.Close(f)
			}
		}
	}()
	switch sender {
	case "splice":
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			return 0, "", err
		}
		pipeR, pipeW = p[0], p[1]
	}
	start := time.Now()
	deadline := start.Add(dur)
	for n := 0; time.Now().Before(deadline); n++ {
		if turnAt >= 0 && time.Since(start) >= turnAt {
			if err := unix.SetNonblock(fd, false); err != nil {
				return total, "", fmt.Errorf("turn blocking: %w", err)
			}
			turnAt = -1
		}
		size := 1 + sizes.IntN(len(buf))
		msg := buf[:size]
		data.Read(msg)
		h.Write(msg)
		var err error
		switch sender {
		case "write":
			err = rawsock.SendAll(fd, msg, 0, hangWatch)
		case "msg_more":
			flags := 0
			if n%2 == 0 {
				flags = unix.MSG_MORE // the next message completes it
			}
			err = rawsock.SendAll(fd, msg, flags, hangWatch)
		case "sendfile":
			err = sendfileAll(fd, msg)
		case "splice":
			err = spliceAll(fd, pipeR, pipeW, msg)
		}
		if err != nil {
			return total, "", fmt.Errorf("%s after %d bytes: %w", sender, total, err)
		}
		total += int64(size)
	}
	return total, hex.EncodeToString(h.Sum(nil)), nil
}

// sendfileAll sends msg from a file of its own: sendfile is zero-copy, so the
// pages must not change while they may still be in flight.
func sendfileAll(fd int, msg []byte) error {
	memfd, err := unix.MemfdCreate("load", unix.MFD_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(memfd)
	if _, err := unix.Pwrite(memfd, msg, 0); err != nil {
		return err
	}
	var off int64
	for off < int64(len(msg)) {
		n, err := unix.Sendfile(fd, memfd, &off, len(msg)-int(off))
		if retry, err := rawsock.Again(fd, unix.POLLOUT, err, hangWatch); err != nil {
			return err
		} else if retry {
			continue
		}
		if n == 0 {
			return errors.New("sendfile sent nothing")
		}
	}
	return nil
}

// spliceAll moves msg through a pipe into the socket, at most a default
// pipe's capacity (64 KiB) at a time so the write never blocks.
func spliceAll(fd, pipeR, pipeW int, msg []byte) error {
	for off := 0; off < len(msg); {
		n, err := unix.Write(pipeW, msg[off:min(len(msg), off+64<<10)])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		for left := n; left > 0; {
			m, err := unix.Splice(pipeR, nil, fd, nil, left, unix.SPLICE_F_MOVE)
			if retry, err := rawsock.Again(fd, unix.POLLOUT, err, hangWatch); err != nil {
				return err
			} else if retry {
				continue
			}
			left -= int(m)
		}
		off += n
	}
	return nil
}
