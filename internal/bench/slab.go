package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// tcpSocketCaches are the slab caches of struct tcp_sock (IPv4, IPv6).
var tcpSocketCaches = map[string]bool{"TCP": true, "TCPv6": true}

// tcpSocketsAllocated is how many TCP sockets the kernel holds in memory,
// closed ones not yet freed included: the objects in use in the TCP slab
// caches (/proc/slabinfo, root only). The slab counts whole slabs that CPUs
// hold as in use, so the figure is good to a few hundred. A bypassed socket is freed only after
// its psock is, from a kernel work item on the CPU that closed it; on a CPU
// kept busy that work waits, and the closed sockets pile up (README,
// "Connection rate").
func tcpSocketsAllocated() (int, error) {
	f, err := os.Open("/proc/slabinfo")
	if err != nil {
		return 0, fmt.Errorf("count TCP sockets: %w", err)
	}
	defer f.Close()
	return parseSlabinfo(f, tcpSocketCaches)
}

// parseSlabinfo sums the active objects (the second column of slabinfo 2.x)
// of the caches named in names.
func parseSlabinfo(r io.Reader, names map[string]bool) (int, error) {
	sc := bufio.NewScanner(r)
	total, found := 0, false
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !names[fields[0]] {
			continue
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("slabinfo line %q: active objects %q is not a count", sc.Text(), fields[1])
		}
		total += n
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read slabinfo: %w", err)
	}
	if !found {
		return 0, fmt.Errorf("slabinfo has no TCP socket cache")
	}
	return total, nil
}
