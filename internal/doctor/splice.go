package doctor

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/rawsock"
	"github.com/sockshim/sockshim/internal/sockmapprobe"
)

// probeSplice splices from the receiving socket into a pipe once the bytes
// are queued. Plain TCP moves them; the sockmap path never sees them
// (EAGAIN), though read(2) still returns them. The socket stays
// non-blocking and the pipe is SPLICE_F_NONBLOCK: a blocking splice from a
// socket in a SOCKHASH would wait for ever.
func probeSplice(inSockhash bool) (readResult, error) {
	p, err := newReadPair(inSockhash)
	if err != nil {
		return readResult{}, err
	}
	defer p.Close()
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return readResult{}, fmt.Errorf("pipe2: %w", err)
	}
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])

	payload := sockmapprobe.Payload(sockmapprobe.ProbeBytes)
	if err := rawsock.WriteAll(p.client, payload, rawsock.Within(probeTimeout)); err != nil {
		return readResult{}, fmt.Errorf("send: %w", err)
	}
	if err := p.waitQueued(len(payload)); err != nil {
		return readResult{}, err
	}
	n, spliceErr := unix.Splice(p.receiver, nil, pipe[1], nil, len(payload), unix.SPLICE_F_NONBLOCK)
	moved := int(max(n, 0))

	// Whatever splice did not move must still be in the socket, in order.
	got := make([]byte, moved, len(payload))
	if moved > 0 {
		if m, err := unix.Read(pipe[0], got); err != nil || m != moved {
			return readResult{}, fmt.Errorf("read the %d B splice moved from the pipe: %d B (%v)", moved, m, err)
		}
	}
	rest := make([]byte, len(payload)-moved)
	if err := rawsock.ReadFull(p.receiver, rest, rawsock.Within(probeTimeout)); err != nil {
		return readResult{}, fmt.Errorf("after splice moved %d B: %w", moved, err)
	}
	if !bytes.Equal(append(got, rest...), payload) {
		return readResult{}, errors.New("the bytes spliced and read differ from those sent")
	}
	return readResult{n: moved, want: len(payload), err: spliceErr}, nil
}
