package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/rawsock"
	"github.com/sockshim/sockshim/internal/sockmapprobe"
)

// signalDelay is how long after the signal the data is sent: long enough
// for the woken reader to have gone back to sleep or returned.
const signalDelay = 50 * time.Millisecond

// probeSignalWakeup signals a thread blocked in recvfrom on a socket with
// no data, then sends the data. Plain TCP restarts the call (Go installs
// its SIGURG handler with SA_RESTART) and returns the data; the sockmap
// path returns EAGAIN to the blocking read.
//
// No SO_RCVTIMEO: with one the kernel returns EINTR instead of restarting,
// so the wait is bounded by finish shutting the socket down instead.
//
// The sockmap path also returns EAGAIN for a wakeup that is not ours (one
// seen in CI: the read returned before it was seen asleep), so a read that
// returns before the signal is tried again, with a new pair, a few times.
func probeSignalWakeup(inSockhash bool) (readResult, error) {
	var err error
	for range 3 {
		var res readResult
		if res, err = signalWakeupOnce(inSockhash); !errors.Is(err, errReturnedUnsignalled) {
			return res, err
		}
	}
	return readResult{}, err
}

// errReturnedUnsignalled: the blocking read returned before the signal.
var errReturnedUnsignalled = errors.New("a blocking recvfrom with no data returned before it was signalled")

func signalWakeupOnce(inSockhash bool) (readResult, error) {
	p, err := newBlockingReadPair(inSockhash)
	if err != nil {
		return readResult{}, err
	}
	defer p.Close()

	payload := sockmapprobe.Payload(sockmapprobe.ProbeBytes)
	buf := make([]byte, len(payload))
	r := startRecv(p.receiver, buf, 0)
	asleep, err := r.asleep(probeTimeout)
	if err != nil {
		r.finish(p.receiver, 0)
		return readResult{}, err
	}
	if !asleep {
		ret, _ := r.wait(0)
		return readResult{}, fmt.Errorf("%w (%d B, %v)", errReturnedUnsignalled, ret.n, ret.err)
	}
	if err := unix.Tgkill(unix.Getpid(), r.tid, unix.SIGURG); err != nil {
		r.finish(p.receiver, 0)
		return readResult{}, fmt.Errorf("signal the receiving thread: %w", err)
	}
	time.Sleep(signalDelay)
	if err := rawsock.WriteAll(p.client, payload, rawsock.Within(probeTimeout)); err != nil {
		r.finish(p.receiver, 0)
		return readResult{}, fmt.Errorf("send: %w", err)
	}
	ret, err := r.finish(p.receiver, probeTimeout)
	if err != nil {
		return readResult{}, err
	}
	if ret.err == nil && !bytes.Equal(buf[:ret.n], payload[:ret.n]) {
		return readResult{}, errors.New("the bytes read differ from those sent")
	}
	return readResult{n: ret.n, want: len(payload), err: ret.err}, nil
}
