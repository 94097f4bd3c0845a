package doctor

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/rawsock"
	"github.com/sockshim/sockshim/internal/sockmapprobe"
)

// readPair is a loopback TCP connection for the receive-path probes. When
// in a SOCKHASH, its receiving end is in a private map with the no-op
// stream_verdict attached, as sockshim runs on kernels that need it, and the
// client is in no map, so its bytes reach the receiver by the normal path
// and are read through the kernel's sockmap receive path.
type readPair struct {
	client, receiver int // non-blocking raw fds
	sockhash         *sockmapprobe.Sockhash
}

// newBlockingReadPair is newReadPair with a blocking receiving end: the
// reads whose treatment the probes compare.
func newBlockingReadPair(inSockhash bool) (*readPair, error) {
	p, err := newReadPair(inSockhash)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(p.receiver, false); err != nil {
		p.Close()
		return nil, fmt.Errorf("make the receiving socket blocking: %w", err)
	}
	return p, nil
}

func newReadPair(inSockhash bool) (_ *readPair, err error) {
	p := &readPair{client: -1, receiver: -1}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if inSockhash {
		if p.sockhash, err = sockmapprobe.NewSockhash(true); err != nil {
			return nil, err
		}
	}
	if p.client, p.receiver, err = rawsock.Pair(rawsock.NonBlock, probeTimeout); err != nil {
		return nil, err
	}
	if p.sockhash != nil {
		if err := p.sockhash.Insert(p.receiver); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Close closes the sockets, then the map and its program.
func (p *readPair) Close() {
	if p.client >= 0 {
		unix.Close(p.client)
	}
	if p.receiver >= 0 {
		unix.Close(p.receiver)
	}
	if p.sockhash != nil {
		p.sockhash.Close()
	}
}

// waitQueued waits up to probeTimeout until the receiver has n bytes to
// read, so that a probe's call finds exactly what was sent before it.
func (p *readPair) waitQueued(n int) error {
	deadline := time.Now().Add(probeTimeout)
	for {
		queued, err := unix.IoctlGetInt(p.receiver, unix.SIOCINQ)
		if err != nil {
			return fmt.Errorf("ioctl(FIONREAD): %w", err)
		}
		if queued >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d bytes queued at the receiver after %v", queued, n, probeTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}
