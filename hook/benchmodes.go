package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The ends of the three experiments, a server and a client each: round
// trips, bulk one-way throughput, and connection rate. Servers print the
// address to dial first; clients print their result as JSON.

// cmdBenchEcho: __bench-echo NETWORK ADDR SIZE CPU. Prints the address to
// dial, then echoes SIZE-byte requests of one connection until it closes.
func cmdBenchEcho(args []string) int {
	if len(args) != 4 {
		return fail(exitUsage, "__bench-echo NETWORK ADDR SIZE CPU")
	}
	size, _ := strconv.Atoi(args[2])
	cpu, _ := strconv.Atoi(args[3])
	p, err := startEnd(cpu)
	if err != nil {
		return fail(exitFailure, "bench echo: %v", err)
	}
	lfd, dial, err := benchListen(args[0], args[1])
	if err != nil {
		return fail(exitFailure, "bench echo: listen: %v", err)
	}
	fmt.Println(dial)
	fd, err := p.accept(lfd)
	if err != nil {
		return fail(exitFailure, "bench echo: accept: %v", err)
	}
	p.close(lfd)
	if args[0] != "unix" {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	buf := make([]byte, size)
	for {
		if err := p.readFull(fd, buf); err != nil {
			return exitOK // the client is done
		}
		if err := p.writeFull(fd, buf); err != nil {
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
	p, err := startEnd(cpu)
	if err != nil {
		return fail(exitFailure, "bench client: %v", err)
	}
	fd, err := benchDial(p, args[0], args[1])
	if err != nil {
		return fail(exitFailure, "bench client: connect: %v", err)
	}
	defer unix.Close(fd)
	req, resp := make([]byte, size), make([]byte, size)
	for i := range req {
		req[i] = byte(i)
	}
	roundTrip := func() error {
		if err := p.writeFull(fd, req); err != nil {
			return err
		}
		return p.readFull(fd, resp)
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

// streamResult is one stream run.
type streamResult struct {
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

// connectResult is one connect run.
type connectResult struct {
	ConnsPerS   float64 `json:"conns_per_s"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds"`
}

// cmdBenchSink: __bench-sink NETWORK ADDR SIZE CPU [RCVBUF]. Prints the
// address, then reads one connection to its end and prints the byte count
// and the number of segments its socket dropped.
// RCVBUF > 0 sets SO_RCVBUF on the listener, which its connection inherits.
func cmdBenchSink(args []string) int {
	if len(args) != 4 && len(args) != 5 {
		return fail(exitUsage, "__bench-sink NETWORK ADDR SIZE CPU [RCVBUF]")
	}
	size, _ := strconv.Atoi(args[2])
	cpu, _ := strconv.Atoi(args[3])
	p, err := startEnd(cpu)
	if err != nil {
		return fail(exitFailure, "bench sink: %v", err)
	}
	lfd, dial, err := benchListen(args[0], args[1])
	if err != nil {
		return fail(exitFailure, "bench sink: listen: %v", err)
	}
	if err := setBuffer(lfd, unix.SO_RCVBUF, args[4:]); err != nil {
		return fail(exitFailure, "bench sink: %v", err)
	}
	fmt.Println(dial)
	fd, err := p.accept(lfd)
	if err != nil {
		return fail(exitFailure, "bench sink: accept: %v", err)
	}
	p.close(lfd)
	buf := make([]byte, size)
	var total int64
	for {
		n, err := p.io(fd, buf, unix.EPOLLIN)
		if err != nil {
			return fail(exitFailure, "bench sink: read: %v", err)
		}
		if n == 0 {
			break
		}
		total += int64(n)
	}
	drops, err := socketDrops(fd)
	if err != nil {
		return fail(exitFailure, "bench sink: %v", err)
	}
	// Tell the sender everything arrived: its clock stops on this byte.
	p.writeFull(fd, []byte{1})
	p.close(fd)
	fmt.Println(total, drops)
	return exitOK
}

// cmdBenchStream: __bench-stream NETWORK ADDR SECONDS SIZE CPU [SNDBUF].
// Writes SIZE bytes at a time for SECONDS, half-closes, waits for the sink's
// acknowledgement, and prints a streamResult. SNDBUF > 0 sets SO_SNDBUF.
func cmdBenchStream(args []string) int {
	if len(args) != 5 && len(args) != 6 {
		return fail(exitUsage, "__bench-stream NETWORK ADDR SECONDS SIZE CPU [SNDBUF]")
	}
	secs, _ := strconv.ParseFloat(args[2], 64)
	size, _ := strconv.Atoi(args[3])
	cpu, _ := strconv.Atoi(args[4])
	p, err := startEnd(cpu)
	if err != nil {
		return fail(exitFailure, "bench stream: %v", err)
	}
	fd, err := benchDial(p, args[0], args[1])
	if err != nil {
		return fail(exitFailure, "bench stream: connect: %v", err)
	}
	if err := setBuffer(fd, unix.SO_SNDBUF, args[5:]); err != nil {
		return fail(exitFailure, "bench stream: %v", err)
	}
	buf := make([]byte, size)
	var total int64
	start := time.Now()
	deadline := start.Add(time.Duration(secs * float64(time.Second)))
	for time.Now().Before(deadline) {
		if err := p.writeFull(fd, buf); err != nil {
			return fail(exitFailure, "bench stream: write: %v", err)
		}
		total += int64(size)
	}
	unix.Shutdown(fd, unix.SHUT_WR)
	ack := make([]byte, 1)
	if err := p.readFull(fd, ack); err != nil {
		return fail(exitFailure, "bench stream: no acknowledgement: %v", err)
	}
	elapsed := time.Since(start).Seconds()
	// The sink closes once it has acknowledged; waiting for its end lets
	// the duplicate reports (DSACK) of any late loss probe arrive before
	// TCP_INFO is read: they can come behind the acknowledgement byte.
	if n, err := p.io(fd, ack, unix.EPOLLIN); n != 0 || err != nil {
		return fail(exitFailure, "bench stream: the sink did not close (%d B, %v)", n, err)
	}
	res := streamResult{MBPerS: float64(total) / elapsed / 1e6, Bytes: total, WriteSize: size, Seconds: elapsed}
	if info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
		// TCP counts only what it sent itself: the redirected bytes
		// never reach it.
		res.Retransmits = int64(info.Total_retrans)
		res.SpuriousRetransmits = int64(info.Dsack_dups)
		res.NormalPathBytes = int64(info.Bytes_sent)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return exitOK
}

// cmdBenchAccept: __bench-accept NETWORK ADDR CPU. Prints the address, then
// accepts and closes connections until killed.
func cmdBenchAccept(args []string) int {
	if len(args) != 3 {
		return fail(exitUsage, "__bench-accept NETWORK ADDR CPU")
	}
	cpu, _ := strconv.Atoi(args[2])
	p, err := startEnd(cpu)
	if err != nil {
		return fail(exitFailure, "bench accept: %v", err)
	}
	lfd, dial, err := benchListen(args[0], args[1])
	if err != nil {
		return fail(exitFailure, "bench accept: listen: %v", err)
	}
	unix.Listen(lfd, 4096)
	fmt.Println(dial)
	for {
		fd, err := p.accept(lfd)
		if err != nil {
			return fail(exitFailure, "bench accept: %v", err)
		}
		unix.Close(fd)
	}
}

// cmdBenchConnect: __bench-connect NETWORK ADDR COUNT CPU. Opens and closes
// COUNT connections (connect, then close once the server's close arrives)
// and prints a connectResult.
func cmdBenchConnect(args []string) int {
	if len(args) != 4 {
		return fail(exitUsage, "__bench-connect NETWORK ADDR COUNT CPU")
	}
	count, _ := strconv.Atoi(args[2])
	cpu, _ := strconv.Atoi(args[3])
	p, err := startEnd(cpu)
	if err != nil {
		return fail(exitFailure, "bench connect: %v", err)
	}
	one := make([]byte, 1)
	start := time.Now()
	for i := 0; i < count; i++ {
		fd, err := benchDial(p, args[0], args[1])
		if err != nil {
			return fail(exitFailure, "bench connect %d: %v", i, err)
		}
		// Wait for the server's close (EOF, or any error): the
		// connection went all the way through accept.
		p.io(fd, one, unix.EPOLLIN)
		// RST on close: no TIME_WAIT pile-up over many runs.
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		p.close(fd)
	}
	elapsed := time.Since(start).Seconds()
	out, _ := json.Marshal(connectResult{ConnsPerS: float64(count) / elapsed, Connections: count, Seconds: elapsed})
	fmt.Println(string(out))
	return exitOK
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
