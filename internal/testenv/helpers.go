package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The helper commands, run in a child process placed in a test cgroup. Each
// prints JSON lines on stdout; errors go to stderr with exit status 1.
var helpers map[string]func(args []string) error

func init() {
	helpers = map[string]func(args []string) error{
		"listen":    helperListen,
		"dial":      helperDial,
		"reuseport": helperReuseport,
		"bindloop":  helperBindLoop,
		"exchange":  helperExchange,
		"await":     helperAwait,
		"load":      helperLoad,
		"churn":     helperChurn,
		"backlog":   helperBacklog,
		"queued":    helperQueued,
		"write":     helperWrite,
	}
}

// await FILE CMD ARGS...: wait until FILE exists, then run helper CMD. It
// stands for a container's init process that the runtime has created but not
// yet started.
func helperAwait(args []string) error {
	if len(args) < 2 || helpers[args[1]] == nil {
		return errors.New("usage: await FILE CMD [ARG...]")
	}
	for {
		if _, err := os.Stat(args[0]); err == nil {
			return helpers[args[1]](args[2:])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func helperMain(args []string) int {
	if len(args) == 0 || helpers[args[0]] == nil {
		fmt.Fprintf(os.Stderr, "unknown helper command %q\n", args)
		return 2
	}
	if err := helpers[args[0]](args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// network picks Go's network for proto and addr the way a C program would
// pick its socket: AF_INET for an IPv4 address, a dual-stack AF_INET6
// socket for "::", AF_INET6 only for other IPv6 addresses.
func network(proto, addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return proto
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return proto
	case ip.To4() != nil:
		return proto + "4"
	case ip.IsUnspecified():
		return proto
	}
	return proto + "6"
}

func emit(v any) {
	data, _ := json.Marshal(v)
	fmt.Println(string(data))
}

// ListenResult is printed by "listen" once it is bound.
type ListenResult struct {
	Addr string `json:"addr"` // what getsockname says
}

// listen PROTO ADDR TOKEN: serve TOKEN to every TCP connection or UDP
// datagram until killed.
func helperListen(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: listen PROTO ADDR TOKEN")
	}
	proto, addr, token := args[0], args[1], args[2]
	if proto == "udp" {
		pc, err := net.ListenPacket(network("udp", addr), addr)
		if err != nil {
			return err
		}
		emit(ListenResult{Addr: pc.LocalAddr().String()})
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return err
			}
			pc.WriteTo([]byte(token), from)
		}
	}
	l, err := net.Listen(network("tcp", addr), addr)
	if err != nil {
		return err
	}
	emit(ListenResult{Addr: l.Addr().String()})
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		c.Write([]byte(token + "\n"))
		c.Close()
	}
}

// DialResult is printed by "dial".
type DialResult struct {
	Token  string `json:"token"`
	Remote string `json:"remote"` // getpeername (TCP) or recvfrom's source (UDP)
	Local  string `json:"local"`
}

// dial PROTO ADDR: fetch the token served at ADDR.
func helperDial(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: dial PROTO ADDR")
	}
	proto, addr := args[0], args[1]
	if proto == "udp" {
		to, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return err
		}
		network, local := "udp4", "0.0.0.0:0"
		if to.IP.To4() == nil {
			network, local = "udp6", "[::]:0"
		}
		pc, err := net.ListenPacket(network, local)
		if err != nil {
			return err
		}
		defer pc.Close()
		buf := make([]byte, 64)
		for try := 0; try < 20; try++ {
			if _, err := pc.WriteTo([]byte("ping"), to); err != nil {
				return err
			}
			pc.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
			n, from, err := pc.ReadFrom(buf)
			if err == nil {
				emit(DialResult{Token: string(buf[:n]), Remote: from.String(), Local: pc.LocalAddr().String()})
				return nil
			}
		}
		return fmt.Errorf("no UDP answer from %s", addr)
	}
	c, err := net.DialTimeout(network("tcp", addr), addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	emit(DialResult{Token: strings.TrimSpace(string(line)), Remote: c.RemoteAddr().String(), Local: c.LocalAddr().String()})
	return nil
}

// ReuseportResult is printed by "reuseport".
type ReuseportResult struct {
	Addrs      []string `json:"addrs"`
	PlainError string   `json:"plain_error"`
	EADDRINUSE bool     `json:"eaddrinuse"`
}

// reuseport ADDR: two SO_REUSEPORT listeners on ADDR, then a plain one.
func helperReuseport(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: reuseport ADDR")
	}
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		return serr
	}}
	var res ReuseportResult
	for i := 0; i < 2; i++ {
		l, err := lc.Listen(context.Background(), network("tcp", args[0]), args[0])
		if err != nil {
			return fmt.Errorf("reuseport listener %d: %w", i+1, err)
		}
		defer l.Close()
		res.Addrs = append(res.Addrs, l.Addr().String())
	}
	if l, err := net.Listen(network("tcp", args[0]), args[0]); err != nil {
		res.PlainError = err.Error()
		res.EADDRINUSE = errors.Is(err, syscall.EADDRINUSE)
	} else {
		l.Close()
	}
	emit(res)
	return nil
}

// BindLoopResult is printed by "bindloop".
type BindLoopResult struct {
	Cycles int `json:"cycles"`
	Failed int `json:"failed"`
	// FirstError is the first failed bind's error and cycle, if any.
	FirstError string `json:"first_error,omitempty"`
}

// bindloop N PORT: N cycles of socket+bind(0.0.0.0:PORT)+close, TCP and UDP.
func helperBindLoop(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: bindloop N PORT")
	}
	n, err1 := strconv.Atoi(args[0])
	port, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil {
		return errors.New("bindloop: N and PORT are numbers")
	}
	res := BindLoopResult{Cycles: n}
	for i := 0; i < n; i++ {
		typ, proto := unix.SOCK_STREAM, "tcp"
		if i%2 == 1 {
			typ, proto = unix.SOCK_DGRAM, "udp"
		}
		fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port}); err != nil {
			if res.Failed == 0 {
				res.FirstError = fmt.Sprintf("cycle %d (%s): %v", i, proto, err)
			}
			res.Failed++
		}
		unix.Close(fd)
	}
	emit(res)
	return nil
}

// ExchangeResult is printed by "exchange" when both directions are done.
type ExchangeResult struct {
	Sent    int64  `json:"sent"`
	Recv    int64  `json:"recv"`
	SentSHA string `json:"sent_sha"`
	RecvSHA string `json:"recv_sha"`
}

// exchange listen|dial ADDR BYTES SEED [SNDBUF RCVBUF]: over one TCP
// connection, send BYTES pseudo-random bytes in writes of 1 B to 256 KiB
// while reading everything the peer sends, then report both SHA-256 sums.
// "listen" first prints ListenResult. SNDBUF and RCVBUF, when given, are set
// as SO_SNDBUF and SO_RCVBUF before connect(2), or on the listener, whose
// accepted socket inherits them (0 leaves that one to the kernel).
func helperExchange(args []string) error {
	if len(args) != 4 && len(args) != 6 {
		return errors.New("usage: exchange listen|dial ADDR BYTES SEED [SNDBUF RCVBUF]")
	}
	total, err1 := strconv.ParseInt(args[2], 10, 64)
	seed, err2 := strconv.ParseUint(args[3], 10, 64)
	if err1 != nil || err2 != nil {
		return errors.New("exchange: BYTES and SEED are numbers")
	}
	var buffers [2]int // SO_SNDBUF, SO_RCVBUF
	if len(args) == 6 {
		for i, a := range args[4:] {
			n, err := strconv.Atoi(a)
			if err != nil || n < 0 {
				return errors.New("exchange: SNDBUF and RCVBUF are byte counts")
			}
			buffers[i] = n
		}
	}
	setBuffers := func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			for i, opt := range []int{unix.SO_SNDBUF, unix.SO_RCVBUF} {
				if buffers[i] > 0 && serr == nil {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, buffers[i])
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
	var c net.Conn
	switch args[0] {
	case "listen":
		lc := net.ListenConfig{Control: setBuffers}
		l, err := lc.Listen(context.Background(), network("tcp", args[1]), args[1])
		if err != nil {
			return err
		}
		emit(ListenResult{Addr: l.Addr().String()})
		c, err = l.Accept()
		l.Close()
		if err != nil {
			return err
		}
	case "dial":
		var err error
		d := net.Dialer{Timeout: 5 * time.Second, Control: setBuffers}
		c, err = d.Dial(network("tcp", args[1]), args[1])
		if err != nil {
			return err
		}
	default:
		return errors.New("exchange: listen or dial")
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	res, err := Exchange(tc, total, seed)
	if err != nil {
		return err
	}
	emit(res)
	return nil
}

// Exchange sends total pseudo-random bytes (from seed) on c in writes of
// random size while receiving everything the peer sends until its EOF.
func Exchange(c *net.TCPConn, total int64, seed uint64) (ExchangeResult, error) {
	type sent struct {
		n   int64
		sum string
		err error
	}
	done := make(chan sent, 1)
	go func() {
		data := seededData(seed)
		sizes := rand.New(rand.NewPCG(seed, 7))
		h := sha256.New()
		buf := make([]byte, 256<<10)
		var n int64
		for n < total {
			size := int64(1 + sizes.IntN(len(buf)))
			size = min(size, total-n)
			data.Read(buf[:size])
			h.Write(buf[:size])
			if _, err := c.Write(buf[:size]); err != nil {
				done <- sent{n, "", fmt.Errorf("write after %d bytes: %w", n, err)}
				return
			}
			n += size
		}
		done <- sent{n, hex.EncodeToString(h.Sum(nil)), c.CloseWrite()}
	}()
	h := sha256.New()
	recv, rerr := io.Copy(h, c)
	s := <-done
	if s.err != nil {
		return ExchangeResult{}, s.err
	}
	if rerr != nil {
		return ExchangeResult{}, fmt.Errorf("read after %d bytes: %w", recv, rerr)
	}
	return ExchangeResult{Sent: s.n, Recv: recv, SentSHA: s.sum, RecvSHA: hex.EncodeToString(h.Sum(nil))}, nil
}

// seededData is the pseudo-random byte stream a sender writes and its peer's
// SHA-256 is checked against: the same seed gives the same bytes.
func seededData(seed uint64) *rand.ChaCha8 {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	return rand.NewChaCha8(key)
}
