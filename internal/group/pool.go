package group

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Pool is the range host ports are allocated from.
type Pool struct {
	Low, High uint16
}

// DefaultPool lies below Linux's default ephemeral range (32768-60999), so
// an outgoing connection never takes a pool port.
var DefaultPool = Pool{Low: 20000, High: 29999}

// ParsePool reads "LOW-HIGH".
func ParsePool(s string) (Pool, error) {
	lo, hi, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Pool{}, fmt.Errorf("invalid port pool %q: want LOW-HIGH", s)
	}
	l, err1 := strconv.ParseUint(lo, 10, 16)
	h, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || l == 0 || h < l {
		return Pool{}, fmt.Errorf("invalid port pool %q: want LOW-HIGH with 1 <= LOW <= HIGH <= 65535", s)
	}
	return Pool{Low: uint16(l), High: uint16(h)}, nil
}

func (p Pool) String() string { return fmt.Sprintf("%d-%d", p.Low, p.High) }

// CheckEphemeral refuses a pool that overlaps the kernel's ephemeral port
// range, where an outgoing connection could take a port first.
func (p Pool) CheckEphemeral() error {
	lo, hi, ok := ephemeralRange()
	if !ok {
		return nil // no way to tell; nothing to refuse
	}
	if int(p.High) >= lo && int(p.Low) <= hi {
		return fmt.Errorf("port pool %s overlaps the kernel's ephemeral range %d-%d (net.ipv4.ip_local_port_range): choose a pool outside it", p, lo, hi)
	}
	return nil
}

// ephemeralRange is the kernel's range of ports for autobinding sockets
// (net.ipv4.ip_local_port_range); ok is false when it cannot be read.
func ephemeralRange() (lo, hi int, ok bool) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	return lo, hi, err1 == nil && err2 == nil
}
