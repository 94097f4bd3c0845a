package rawsock

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9 + seed)
	}
	return b
}

// 4 MiB each way at once, far more than the socket buffers hold: every
// call meets EAGAIN, waits and goes on, and the bytes arrive intact.
func TestFullBothWaysPastTheBuffers(t *testing.T) {
	const size = 4 << 20
	client, server := pair(t)
	for _, fd := range []int{client, server} { // small buffers: many waits
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<10)
	}
	w := Timeout(10 * time.Second)
	up, down := pattern(size, 1), pattern(size, 2)
	gotUp, gotDown := make([]byte, size), make([]byte, size)
	errs := make(chan error, 4)
	go func() { errs <- WriteAll(client, up, w) }()
	go func() { errs <- SendAll(server, down, unix.MSG_MORE, w) }()
	go func() { errs <- ReadFull(server, gotUp, w) }()
	go func() { errs <- ReadFull(client, gotDown, w) }()
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if !bytes.Equal(gotUp, up) || !bytes.Equal(gotDown, down) {
		t.Errorf("client to server equal %v, server to client equal %v", bytes.Equal(gotUp, up), bytes.Equal(gotDown, down))
	}
}

func TestReadToEOFCounts(t *testing.T) {
	client, server := pair(t)
	sent := pattern(3<<20+17, 3)
	w := Timeout(10 * time.Second)
	wrote := make(chan error, 1)
	go func() {
		err := WriteAll(client, sent, w)
		unix.Shutdown(client, unix.SHUT_WR)
		wrote <- err
	}()
	h := sha256.New()
	n, err := ReadToEOF(server, make([]byte, 64<<10), w, h)
	if err != nil || n != int64(len(sent)) {
		t.Errorf("read %d bytes (%v), want %d", n, err, len(sent))
	}
	if want := sha256.Sum256(sent); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Error("the bytes read differ from those sent")
	}
	if err := <-wrote; err != nil {
		t.Error(err)
	}
	// A short stream is io.ErrUnexpectedEOF to ReadFull.
	if err := ReadFull(server, make([]byte, 1), w); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadFull at the end of the stream: %v", err)
	}
}

// A round trip allocates nothing: the benchmark's ends time theirs.
func TestRoundTripAllocatesNothing(t *testing.T) {
	client, server := pair(t)
	var w Waiter = Timeout(time.Second)
	req, resp := []byte("ping"), make([]byte, 4)
	allocs := testing.AllocsPerRun(100, func() {
		if WriteAll(client, req, w) != nil || ReadFull(server, resp, w) != nil ||
			WriteAll(server, resp, w) != nil || ReadFull(client, resp, w) != nil {
			t.Fatal("round trip failed")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations a round trip, want 0", allocs)
	}
}
