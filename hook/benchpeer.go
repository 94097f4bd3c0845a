package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The two ends of the benchmark, run by `sockshim bench` as separate
// processes (each in its own group). They use blocking syscalls on one
// locked OS thread pinned to a CPU, so the figures are the kernel's path and
// not Go's scheduler or netpoller.

// pinThread locks the goroutine to its OS thread and that thread to cpu
// (-1: no pinning).
func pinThread(cpu int) error {
	runtime.LockOSThread()
	if cpu < 0 {
		return nil
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	return nil
}

// benchListen returns a listening socket for network "tcp" (addr is the IP
// to listen on, port chosen by the kernel) or "unix" (addr is the path) and
// the address to dial: the port, or the path.
func benchListen(network, addr string) (fd int, dial string, err error) {
	if network == "unix" {
		fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, "", err
		}
		os.Remove(addr)
		if err = unix.Bind(fd, &unix.SockaddrUnix{Name: addr}); err != nil {
			return -1, "", err
		}
		return fd, addr, unix.Listen(fd, 128)
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is4() {
		return -1, "", fmt.Errorf("listen address %q: want an IPv4 address", addr)
	}
	fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "", err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err = unix.Bind(fd, &unix.SockaddrInet4{Addr: ip.As4()}); err != nil {
		return -1, "", err
	}
	if err = unix.Listen(fd, 128); err != nil {
		return -1, "", err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return -1, "", err
	}
	return fd, strconv.Itoa(sa.(*unix.SockaddrInet4).Port), nil
}

// benchDial connects to addr: a path for "unix", for "tcp" IP:PORT or just
// PORT (on 127.0.0.1).
func benchDial(network, addr string) (int, error) {
	if network == "unix" {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		return fd, unix.Connect(fd, &unix.SockaddrUnix{Name: addr})
	}
	if !strings.Contains(addr, ":") {
		addr = "127.0.0.1:" + addr
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return -1, fmt.Errorf("address %q: want IPv4:PORT or PORT", addr)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return -1, err
	}
	return fd, unix.Connect(fd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())})
}

// retryable reports whether a blocking read or write should simply be
// repeated: EINTR, and EAGAIN, which the kernel's tcp_bpf receive path can
// return even on a blocking socket of the bypass (see the README's known
// kernel limitations); then poll waits for the socket first.
func retryable(fd int, err error, events int16) bool {
	if errors.Is(err, unix.EINTR) {
		return true
	}
	if errors.Is(err, unix.EAGAIN) {
		unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: events}}, 1000)
		return true
	}
	return false
}

// readFull reads exactly len(buf) bytes: a short read is never a reply.
func readFull(fd int, buf []byte) error {
	for off := 0; off < len(buf); {
		n, err := unix.Read(fd, buf[off:])
		if retryable(fd, err, unix.POLLIN) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("peer closed")
		}
		off += n
	}
	return nil
}

func writeFull(fd int, buf []byte) error {
	for off := 0; off < len(buf); {
		n, err := unix.Write(fd, buf[off:])
		if retryable(fd, err, unix.POLLOUT) {
			continue
		}
		if err != nil {
			return err
		}
		off += n
	}
	return nil
}

// cmdBenchEcho: __bench-echo NETWORK ADDR SIZE CPU. Prints the address to
// dial, then echoes SIZE-byte requests of one connection until it closes.
func cmdBenchEcho(args []string) int {
	if len(args) != 4 {
		return fail(exitUsage, "__bench-echo NETWORK ADDR SIZE CPU")
	}
	size, _ := strconv.Atoi(args[2])
	cpu, _ := strconv.Atoi(args[3])
	if err := pinThread(cpu); err != nil {
		return fail(exitFailure, "bench echo: %v", err)
	}
	lfd, dial, err := benchListen(args[0], args[1])
	if err != nil {
		return fail(exitFailure, "bench echo: listen: %v", err)
	}
	fmt.Println(dial)
	fd, _, err := unix.Accept(lfd)
	if err != nil {
		return fail(exitFailure, "bench echo: accept: %v", err)
	}
	unix.Close(lfd)
	if args[0] != "unix" {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	buf := make([]byte, size)
	for {
		if err := readFull(fd, buf); err != nil {
			return exitOK // the client is done
		}
		if err := writeFull(fd, buf); err != nil {
			return fail(exitFailure, "bench echo: write: %v", err)
		}
	}
}

// rttResult is one run's latency summary, in microseconds.
type rttResult struct {
	MeanUS   float64 `json:"mean_us"`
	P50US    float64 `json:"p50_us"`
	P99US    float64 `json:"p99_us"`
	P999US   float64 `json:"p999_us"`
	Requests int     `json:"requests"`
	Size     int     `json:"size"`
}

// cmdBenchClient: __bench-client NETWORK ADDR REQUESTS SIZE CPU. Sends
// REQUESTS requests of SIZE bytes, each waiting for its full echo, after a
// warm-up that is not counted, and prints an rttResult as JSON.
func cmdBenchClient(args []string) int {
	if len(args) != 5 {
		return fail(exitUsage, "__bench-client NETWORK ADDR REQUESTS SIZE CPU")
	}
	requests, _ := strconv.Atoi(args[2])
	size, _ := strconv.Atoi(args[3])
	cpu, _ := strconv.Atoi(args[4])
	if requests <= 0 || size <= 0 {
		return fail(exitUsage, "bench client: REQUESTS and SIZE must be positive")
	}
	if err := pinThread(cpu); err != nil {
		return fail(exitFailure, "bench client: %v", err)
	}
	fd, err := benchDial(args[0], args[1])
	if err != nil {
		return fail(exitFailure, "bench client: connect: %v", err)
	}
	defer unix.Close(fd)
	req, resp := make([]byte, size), make([]byte, size)
	for i := range req {
		req[i] = byte(i)
	}
	roundTrip := func() error {
		if err := writeFull(fd, req); err != nil {
			return err
		}
		return readFull(fd, resp)
	}
	warmup := min(requests/10+1, 5000)
	for i := 0; i < warmup; i++ {
		if err := roundTrip(); err != nil {
			return fail(exitFailure, "bench client: warm-up: %v", err)
		}
	}
	rtts := make([]time.Duration, requests)
	for i := range rtts {
		start := time.Now()
		if err := roundTrip(); err != nil {
			return fail(exitFailure, "bench client: request %d: %v", i, err)
		}
		rtts[i] = time.Since(start)
	}
	if string(resp) != string(req) {
		return fail(exitFailure, "bench client: echo differs from request")
	}
	out, _ := json.Marshal(summarize(rtts, size))
	fmt.Println(string(out))
	return exitOK
}

// summarize computes the mean as the prototype did (total of per-request
// times over the count) and the percentiles.
func summarize(rtts []time.Duration, size int) rttResult {
	var total time.Duration
	for _, d := range rtts {
		total += d
	}
	sorted := append([]time.Duration(nil), rtts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	pct := func(p float64) float64 {
		i := int(p * float64(len(sorted)-1))
		return float64(sorted[i]) / 1e3
	}
	return rttResult{
		MeanUS:   float64(total) / float64(len(rtts)) / 1e3,
		P50US:    pct(0.50),
		P99US:    pct(0.99),
		P999US:   pct(0.999),
		Requests: len(rtts),
		Size:     size,
	}
}
