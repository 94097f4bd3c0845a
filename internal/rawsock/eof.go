package rawsock

import (
	"fmt"
	"io"
)

// ReadToEOF reads fd in reads of up to len(buf) until the peer's end of the
// stream, waiting with w after EAGAIN, and returns how many bytes it read.
// Every read also goes to to, when it is not nil (a hash, say): on error
// it has had what was read until then.
func ReadToEOF(fd int, buf []byte, w Waiter, to io.Writer) (int64, error) {
	var total int64
	for {
		n, err := Read(fd, buf, w)
		if err != nil {
			return total, fmt.Errorf("read after %d bytes: %w", total, err)
		}
		if n == 0 {
			return total, nil
		}
		if to != nil {
			to.Write(buf[:n])
		}
		total += int64(n)
	}
}
