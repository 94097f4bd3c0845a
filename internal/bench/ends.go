package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/rawsock"
)

// The ends of the three experiments, a server and a client each: round
// trips, bulk one-way throughput, and connection rate. Servers print the
// address to dial first; clients print their result as JSON.

// Echo: __bench-echo NETWORK ADDR SIZE CPU. Prints the address to
// dial, then echoes SIZE-byte requests of one connection until it closes.
func Echo(args []string) error {
	if len(args) != 4 {
		return usageError("__bench-echo NETWORK ADDR SIZE CPU")
	}
	size, _ := strconv.Atoi(args[2])
	cpu, _ := strconv.Atoi(args[3])
	p, lfd, dial, err := serverEnd("echo", cpu, args[0], args[1], 128)
	if err != nil {
		return err
	}
	fmt.Println(dial)
	fd, err := acceptOne(p, lfd)
	if err != nil {
		return fmt.Errorf("bench echo: %w", err)
	}
	if args[0] != "unix" {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	buf := make([]byte, size)
	for {
		if err := rawsock.ReadFull(fd, buf, p); err != nil {
			return nil // the client is done
		}
		if err := rawsock.WriteAll(fd, buf, p); err != nil {
			return fmt.Errorf("bench echo: %w", err)
		}
	}
}

// serverEnd starts the server end name: pinned to cpu, its poller, and a
// socket listening on network and addr with backlog, with the address to
// dial.
func serverEnd(name string, cpu int, network, addr string, backlog int) (*poller, int, string, error) {
	p, err := startEnd(cpu)
	if err != nil {
		return nil, -1, "", fmt.Errorf("bench %s: %w", name, err)
	}
	lfd, dial, err := benchListen(network, addr, backlog)
	if err != nil {
		return nil, -1, "", fmt.Errorf("bench %s: listen: %w", name, err)
	}
	return p, lfd, dial, nil
}

// acceptOne accepts the one connection an end serves and closes the
// listener.
func acceptOne(p *poller, lfd int) (int, error) {
	fd, err := rawsock.Accept(lfd, rawsock.NonBlock, p)
	p.Close(lfd)
	return fd, err
}

// RTTResult is one run's latency summary, in microseconds.
type RTTResult struct {
	MeanUS   float64 `json:"mean_us"`
	P50US    float64 `json:"p50_us"`
	P99US    float64 `json:"p99_us"`
	P999US   float64 `json:"p999_us"`
	Requests int     `json:"requests"`
	Size     int     `json:"size"`
}

// Client: __bench-client NETWORK ADDR REQUESTS SIZE CPU. Sends
// REQUESTS requests of SIZE bytes, each waiting for its full echo, after a
// warm-up that is not counted, and prints an RTTResult as JSON.
func Client(args []string) error {
	if len(args) != 5 {
		return usageError("__bench-client NETWORK ADDR REQUESTS SIZE CPU")
	}
	requests, _ := strconv.Atoi(args[2])
	size, _ := strconv.Atoi(args[3])
	cpu, _ := strconv.Atoi(args[4])
	if requests <= 0 || size <= 0 {
		return usageError("bench client: REQUESTS and SIZE must be positive")
	}
	p, err := startEnd(cpu)
	if err != nil {
		return fmt.Errorf("bench client: %w", err)
	}
	fd, err := benchDial(p, args[0], args[1], nil)
	if err != nil {
		return fmt.Errorf("bench client: %w", err)
	}
	defer unix.Close(fd)
	req, resp := make([]byte, size), make([]byte, size)
	for i := range req {
		req[i] = byte(i)
	}
	roundTrip := func() error {
		if err := rawsock.WriteAll(fd, req, p); err != nil {
			return err
		}
		return rawsock.ReadFull(fd, resp, p)
	}
	warmup := min(requests/10+1, 5000)
	for i := 0; i < warmup; i++ {
		if err := roundTrip(); err != nil {
			return fmt.Errorf("bench client: warm-up: %w", err)
		}
	}
	rtts := make([]time.Duration, requests)
	for i := range rtts {
		start := time.Now()
		if err := roundTrip(); err != nil {
			return fmt.Errorf("bench client: request %d: %v", i, err)
		}
		rtts[i] = time.Since(start)
	}
	if string(resp) != string(req) {
		return errors.New("bench client: echo differs from request")
	}
	out, _ := json.Marshal(summarize(rtts, size))
	fmt.Println(string(out))
	return nil
}

// summarize computes the reference experiment's mean (the total of the
// per-request times over the count) and the percentiles.
func summarize(rtts []time.Duration, size int) RTTResult {
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
	return RTTResult{
		MeanUS:   float64(total) / float64(len(rtts)) / 1e3,
		P50US:    pct(0.50),
		P99US:    pct(0.99),
		P999US:   pct(0.999),
		Requests: len(rtts),
		Size:     size,
	}
}

// StreamResult is one stream run.
type StreamResult struct {
	MBPerS    float64 `json:"mb_per_s"`
	Bytes     int64   `json:"bytes"`
	WriteSize int     `json:"write_size"`
	Seconds   float64 `json:"seconds"`
	// Retransmits and NormalPathBytes come from the writer's TCP_INFO
	// (tcpi_total_retrans, tcpi_bytes_sent): what TCP itself sent.
	Retransmits     int64 `json:"retransmits"`
	NormalPathBytes int64 `json:"normal_path_bytes"`
	// SpuriousRetransmits are the retransmissions the reader reported as
	// duplicates (tcpi_dsack_dups): a loss probe sent while an ACK was late,
	// not a segment the reader dropped.
	SpuriousRetransmits int64 `json:"spurious_retransmits"`
	// ReaderDrops is the reader's count of segments its TCP dropped
	// (SO_MEMINFO's SK_MEMINFO_DROPS: a shut window, a pruned queue, no
	// memory), read by the sink at the end of the stream.
	ReaderDrops int64 `json:"reader_drops"`
}

// ConnectResult is one connect run.
type ConnectResult struct {
	ConnsPerS   float64 `json:"conns_per_s"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds"`
	// SocketsNotFreed is how many more TCP sockets the kernel held at the
	// end of the run than at its start (tcpSocketsAllocated, 0 when fewer),
	// every one of the run's own closed by then; -1 when slabinfo cannot be
	// read.
	SocketsNotFreed int `json:"sockets_not_freed"`
}

// Sink: __bench-sink NETWORK ADDR SIZE CPU [RCVBUF]. Prints the
// address, then reads one connection to its end and prints the byte count
// and the number of segments its socket dropped.
// RCVBUF > 0 sets SO_RCVBUF on the listener, which its connection inherits.
func Sink(args []string) error {
	if len(args) != 4 && len(args) != 5 {
		return usageError("__bench-sink NETWORK ADDR SIZE CPU [RCVBUF]")
	}
	size, _ := strconv.Atoi(args[2])
	cpu, _ := strconv.Atoi(args[3])
	p, lfd, dial, err := serverEnd("sink", cpu, args[0], args[1], 128)
	if err != nil {
		return err
	}
	if err := setBuffer(lfd, unix.SO_RCVBUF, args[4:]); err != nil {
		return fmt.Errorf("bench sink: %w", err)
	}
	fmt.Println(dial)
	fd, err := acceptOne(p, lfd)
	if err != nil {
		return fmt.Errorf("bench sink: %w", err)
	}
	total, err := rawsock.ReadToEOF(fd, make([]byte, size), p, nil)
	if err != nil {
		return fmt.Errorf("bench sink: %w", err)
	}
	drops, err := rawsock.Drops(fd)
	if err != nil {
		return fmt.Errorf("bench sink: %w", err)
	}
	// Tell the sender everything arrived: its clock stops on this byte.
	rawsock.WriteAll(fd, []byte{1}, p)
	p.Close(fd)
	fmt.Println(total, drops)
	return nil
}

// Stream: __bench-stream NETWORK ADDR SECONDS SIZE CPU [SNDBUF].
// Writes SIZE bytes at a time for SECONDS, half-closes, waits for the sink's
// acknowledgement, and prints a StreamResult. SNDBUF > 0 sets SO_SNDBUF.
func Stream(args []string) error {
	if len(args) != 5 && len(args) != 6 {
		return usageError("__bench-stream NETWORK ADDR SECONDS SIZE CPU [SNDBUF]")
	}
	secs, _ := strconv.ParseFloat(args[2], 64)
	size, _ := strconv.Atoi(args[3])
	cpu, _ := strconv.Atoi(args[4])
	p, err := startEnd(cpu)
	if err != nil {
		return fmt.Errorf("bench stream: %w", err)
	}
	// Before connect: the bypass judges a connection's buffers at its
	// handshake (bpf/c/small_buffers.h), as a program sizing them does.
	sndbuf := func(fd int) error { return setBuffer(fd, unix.SO_SNDBUF, args[5:]) }
	fd, err := benchDial(p, args[0], args[1], sndbuf)
	if err != nil {
		return fmt.Errorf("bench stream: %w", err)
	}
	buf := make([]byte, size)
	var total int64
	start := time.Now()
	deadline := start.Add(time.Duration(secs * float64(time.Second)))
	for time.Now().Before(deadline) {
		if err := rawsock.WriteAll(fd, buf, p); err != nil {
			return fmt.Errorf("bench stream: %w", err)
		}
		total += int64(size)
	}
	unix.Shutdown(fd, unix.SHUT_WR)
	ack := make([]byte, 1)
	if err := rawsock.ReadFull(fd, ack, p); err != nil {
		return fmt.Errorf("bench stream: no acknowledgement: %w", err)
	}
	elapsed := time.Since(start).Seconds()
	// The sink closes once it has acknowledged; waiting for its end lets
	// the duplicate reports (DSACK) of any late loss probe arrive before
	// TCP_INFO is read: they can come behind the acknowledgement byte.
	if n, err := rawsock.Read(fd, ack, p); n != 0 || err != nil {
		return fmt.Errorf("bench stream: the sink did not close (%d B, %v)", n, err)
	}
	res := StreamResult{MBPerS: float64(total) / elapsed / 1e6, Bytes: total, WriteSize: size, Seconds: elapsed}
	if info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
		// TCP counts only what it sent itself: the redirected bytes
		// never reach it.
		res.Retransmits = int64(info.Total_retrans)
		res.SpuriousRetransmits = int64(info.Dsack_dups)
		res.NormalPathBytes = int64(info.Bytes_sent)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return nil
}

// Accept: __bench-accept NETWORK ADDR CPU. Prints the address, then
// accepts and closes connections until killed.
func Accept(args []string) error {
	if len(args) != 3 {
		return usageError("__bench-accept NETWORK ADDR CPU")
	}
	cpu, _ := strconv.Atoi(args[2])
	p, lfd, dial, err := serverEnd("accept", cpu, args[0], args[1], 4096)
	if err != nil {
		return err
	}
	fmt.Println(dial)
	for {
		fd, err := rawsock.Accept(lfd, rawsock.NonBlock, p)
		if err != nil {
			return fmt.Errorf("bench accept: %w", err)
		}
		unix.Close(fd)
	}
}

// Connect: __bench-connect NETWORK ADDR COUNT CPU. Opens and closes
// COUNT connections (connect, then close once the server's close arrives)
// and prints a ConnectResult.
func Connect(args []string) error {
	if len(args) != 4 {
		return usageError("__bench-connect NETWORK ADDR COUNT CPU")
	}
	count, _ := strconv.Atoi(args[2])
	cpu, _ := strconv.Atoi(args[3])
	p, err := startEnd(cpu)
	if err != nil {
		return fmt.Errorf("bench connect: %w", err)
	}
	one := make([]byte, 1)
	socketsBefore, slabErr := tcpSocketsAllocated()
	start := time.Now()
	for i := 0; i < count; i++ {
		fd, err := benchDial(p, args[0], args[1], nil)
		if err != nil {
			return fmt.Errorf("bench connect %d: %v", i, err)
		}
		// Wait for the server's close (EOF, or any error): the
		// connection went all the way through accept.
		rawsock.Read(fd, one, p)
		// RST on close: no TIME_WAIT pile-up over many runs.
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		p.Close(fd)
	}
	elapsed := time.Since(start).Seconds()
	notFreed := -1
	if socketsAfter, err := tcpSocketsAllocated(); err == nil && slabErr == nil {
		// Fewer than at the start (sockets of an earlier run freed
		// meanwhile): none of this run's is left.
		notFreed = max(socketsAfter-socketsBefore, 0)
	}
	out, _ := json.Marshal(ConnectResult{ConnsPerS: float64(count) / elapsed, Connections: count, Seconds: elapsed, SocketsNotFreed: notFreed})
	fmt.Println(string(out))
	return nil
}

// setBuffer sets the socket buffer opt to the size in optional (its first
// element, when there is one and it is positive).
func setBuffer(fd, opt int, optional []string) error {
	if len(optional) == 0 {
		return nil
	}
	n, err := strconv.Atoi(optional[0])
	if err != nil || n < 0 {
		return fmt.Errorf("buffer size %q: want a byte count", optional[0])
	}
	if n == 0 {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, n); err != nil {
		return fmt.Errorf("set buffer size %d: %w", n, err)
	}
	return nil
}
