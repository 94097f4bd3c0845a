package rawsock

import (
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// Loopback is 127.0.0.1.
var Loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// Pair returns the two ends of a TCP connection over 127.0.0.1, both and
// the listener made with f, the connect and the accept each waiting at most
// timeout when non-blocking. The listener is closed.
func Pair(f Flags, timeout time.Duration) (client, server int, err error) {
	ln, addr, err := Listen(netip.AddrPortFrom(Loopback, 0), 1, f)
	if err != nil {
		return -1, -1, err
	}
	defer unix.Close(ln)
	if client, err = Dial(addr, f, Within(timeout)); err != nil {
		return -1, -1, err
	}
	if server, err = Accept(ln, f, Within(timeout)); err != nil {
		unix.Close(client)
		return -1, -1, err
	}
	return client, server, nil
}
