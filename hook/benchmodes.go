package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The other two experiments: bulk one-way throughput, and connection rate.

// streamResult is one stream run.
type streamResult struct {
	MBPerS    float64 `json:"mb_per_s"`
	Bytes     int64   `json:"bytes"`
	WriteSize int     `json:"write_size"`
	Seconds   float64 `json:"seconds"`
}

// connectResult is one connect run.
type connectResult struct {
	ConnsPerS   float64 `json:"conns_per_s"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds"`
}

// cmdBenchSink: __bench-sink NETWORK ADDR SIZE CPU. Prints the address, then
// reads one connection to its end and prints the byte count.
func cmdBenchSink(args []string) int {
	if len(args) != 4 {
		return fail(exitUsage, "__bench-sink NETWORK ADDR SIZE CPU")
	}
	size, _ := strconv.Atoi(args[2])
	cpu, _ := strconv.Atoi(args[3])
	if err := pinThread(cpu); err != nil {
		return fail(exitFailure, "bench sink: %v", err)
	}
	lfd, dial, err := benchListen(args[0], args[1])
	if err != nil {
		return fail(exitFailure, "bench sink: listen: %v", err)
	}
	fmt.Println(dial)
	fd, _, err := unix.Accept(lfd)
	if err != nil {
		return fail(exitFailure, "bench sink: accept: %v", err)
	}
	buf := make([]byte, size)
	var total int64
	for {
		n, err := unix.Read(fd, buf)
		if retryable(fd, err, unix.POLLIN) {
			continue
		}
		if err != nil {
			return fail(exitFailure, "bench sink: read: %v", err)
		}
		if n == 0 {
			break
		}
		total += int64(n)
	}
	// Tell the sender everything arrived: its clock stops on this byte.
	unix.Write(fd, []byte{1})
	fmt.Println(total)
	return exitOK
}

// cmdBenchStream: __bench-stream NETWORK ADDR SECONDS SIZE CPU. Writes SIZE
// bytes at a time for SECONDS, half-closes, waits for the sink's
// acknowledgement, and prints a streamResult.
func cmdBenchStream(args []string) int {
	if len(args) != 5 {
		return fail(exitUsage, "__bench-stream NETWORK ADDR SECONDS SIZE CPU")
	}
	secs, _ := strconv.ParseFloat(args[2], 64)
	size, _ := strconv.Atoi(args[3])
	cpu, _ := strconv.Atoi(args[4])
	if err := pinThread(cpu); err != nil {
		return fail(exitFailure, "bench stream: %v", err)
	}
	fd, err := benchDial(args[0], args[1])
	if err != nil {
		return fail(exitFailure, "bench stream: connect: %v", err)
	}
	buf := make([]byte, size)
	var total int64
	start := time.Now()
	deadline := start.Add(time.Duration(secs * float64(time.Second)))
	for time.Now().Before(deadline) {
		if err := writeFull(fd, buf); err != nil {
			return fail(exitFailure, "bench stream: write: %v", err)
		}
		total += int64(size)
	}
	unix.Shutdown(fd, unix.SHUT_WR)
	ack := make([]byte, 1)
	if err := readFull(fd, ack); err != nil {
		return fail(exitFailure, "bench stream: no acknowledgement: %v", err)
	}
	elapsed := time.Since(start).Seconds()
	out, _ := json.Marshal(streamResult{MBPerS: float64(total) / elapsed / 1e6, Bytes: total, WriteSize: size, Seconds: elapsed})
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
	if err := pinThread(cpu); err != nil {
		return fail(exitFailure, "bench accept: %v", err)
	}
	lfd, dial, err := benchListen(args[0], args[1])
	if err != nil {
		return fail(exitFailure, "bench accept: listen: %v", err)
	}
	unix.Listen(lfd, 4096)
	fmt.Println(dial)
	for {
		fd, _, err := unix.Accept(lfd)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
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
	if err := pinThread(cpu); err != nil {
		return fail(exitFailure, "bench connect: %v", err)
	}
	one := make([]byte, 1)
	start := time.Now()
	for i := 0; i < count; i++ {
		fd, err := benchDial(args[0], args[1])
		if err != nil {
			return fail(exitFailure, "bench connect %d: %v", i, err)
		}
		// Wait for the server's close (EOF): the connection went all
		// the way through accept.
		for {
			if _, err := unix.Read(fd, one); !retryable(fd, err, unix.POLLIN) {
				break
			}
		}
		// RST on close: no TIME_WAIT pile-up over many runs.
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		unix.Close(fd)
	}
	elapsed := time.Since(start).Seconds()
	out, _ := json.Marshal(connectResult{ConnsPerS: float64(count) / elapsed, Connections: count, Seconds: elapsed})
	fmt.Println(string(out))
	return exitOK
}
