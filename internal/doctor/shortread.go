package doctor

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/rawsock"
	"github.com/sockshim/sockshim/internal/sockmapprobe"
)

// A short-read probe asks for wholeBytes when only partBytes are queued,
// and the client sends the rest once the reader sleeps.
const (
	partBytes  = 1000
	wholeBytes = 4000
)

// probeWaitAll: recv(wholeBytes, MSG_WAITALL) on a blocking socket. Plain
// TCP waits for all of it; the sockmap path returns the first part.
func probeWaitAll(inSockhash bool) (readResult, error) {
	return probeShortRead(inSockhash, unix.MSG_WAITALL, 0)
}

// probeRcvLowat: SO_RCVLOWAT wholeBytes, then a blocking recv. Plain TCP
// waits for that many bytes; the sockmap path returns what is there.
//
// The option is set once the first part is queued: set before, it also
// holds back the stream_verdict (tcp_data_ready runs it only once
// SO_RCVLOWAT bytes are unread), so the bytes are not "there" for the
// sockmap path yet (on 6.18.44 FIONREAD says 0 and the blocking recv
// fails with EAGAIN at once, another way of mistreating the read).
func probeRcvLowat(inSockhash bool) (readResult, error) {
	return probeShortRead(inSockhash, 0, wholeBytes)
}

// probeShortRead sets SO_RCVTIMEO, which leaves MSG_WAITALL and
// SO_RCVLOWAT as they are (a timeout only ends the wait early), so that
// a kernel that never wakes the reader cannot hang the probe.
func probeShortRead(inSockhash bool, flags, rcvlowat int) (readResult, error) {
	p, err := newBlockingReadPair(inSockhash)
	if err != nil {
		return readResult{}, err
	}
	defer p.Close()
	tv := unix.NsecToTimeval(probeTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(p.receiver, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return readResult{}, fmt.Errorf("setsockopt(SO_RCVTIMEO): %w", err)
	}

	// Plain TCP wakes a reader that has taken the first part only when
	// SO_RCVLOWAT bytes are unread (tcp_epollin_ready), not that many in
	// all: with SO_RCVLOWAT the rest is a whole SO_RCVLOWAT.
	rest := wholeBytes - partBytes
	if rcvlowat > 0 {
		rest = rcvlowat
	}
	payload := sockmapprobe.Payload(partBytes + rest)
	if err := rawsock.WriteAll(p.client, payload[:partBytes], rawsock.Within(probeTimeout)); err != nil {
		return readResult{}, fmt.Errorf("send the first part: %w", err)
	}
	if err := p.waitQueued(partBytes); err != nil {
		return readResult{}, err
	}
	if rcvlowat > 0 {
		if err := unix.SetsockoptInt(p.receiver, unix.SOL_SOCKET, unix.SO_RCVLOWAT, rcvlowat); err != nil {
			return readResult{}, fmt.Errorf("setsockopt(SO_RCVLOWAT, %d): %w", rcvlowat, err)
		}
	}

	buf := make([]byte, wholeBytes)
	r := startRecv(p.receiver, buf, flags)
	// Not asleep means it returned with the first part: the rest is sent
	// all the same, the result is read below.
	if _, err := r.asleep(probeTimeout); err != nil {
		r.finish(p.receiver, 0)
		return readResult{}, err
	}
	if err := rawsock.WriteAll(p.client, payload[partBytes:], rawsock.Within(probeTimeout)); err != nil {
		r.finish(p.receiver, 0)
		return readResult{}, fmt.Errorf("send the rest: %w", err)
	}
	// Longer than SO_RCVTIMEO, so the kernel's timeout ends the call.
	ret, err := r.finish(p.receiver, 2*probeTimeout)
	if err != nil {
		return readResult{}, err
	}
	if ret.err == nil && !bytes.Equal(buf[:ret.n], payload[:ret.n]) {
		return readResult{}, errors.New("the bytes read differ from those sent")
	}
	return readResult{n: ret.n, want: wholeBytes, err: ret.err}, nil
}
