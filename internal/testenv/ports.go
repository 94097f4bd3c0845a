package testenv

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"
)

func init() {
	helpers["serveports"] = helperServePorts
	helpers["dialports"] = helperDialPorts
}

// PortResult is one port of "serveports" or "dialports".
type PortResult struct {
	Port       uint16 `json:"port"`
	Addr       string `json:"addr,omitempty"`  // serveports: getsockname; dialports: getpeername or the source
	Token      string `json:"token,omitempty"` // dialports: what the server said
	Error      string `json:"error,omitempty"`
	EADDRINUSE bool   `json:"eaddrinuse,omitempty"`
}

// PortsResult is the one line "serveports" and "dialports" print.
type PortsResult struct {
	Ports []PortResult `json:"ports"`
}

// serveports PROTO HOST TOKEN PORT...: bind each port on HOST (reporting
// each bind's error, EADDRINUSE apart) and serve TOKEN-PORT on those bound,
// until killed, as "listen" does.
func helperServePorts(args []string) error {
	if len(args) < 4 {
		return errors.New("usage: serveports PROTO HOST TOKEN PORT...")
	}
	proto, host, token := args[0], args[1], args[2]
	var res PortsResult
	var serve []func()
	for _, a := range args[3:] {
		port, err := strconv.ParseUint(a, 10, 16)
		if err != nil {
			return fmt.Errorf("port %q: %w", a, err)
		}
		r := PortResult{Port: uint16(port)}
		addr := net.JoinHostPort(host, a)
		say := fmt.Sprintf("%s-%d", token, port)
		if proto == "udp" {
			pc, err := net.ListenPacket(network("udp", addr), addr)
			if err == nil {
				r.Addr = pc.LocalAddr().String()
				serve = append(serve, func() { answer(pc, say) })
			}
			r.setError(err)
		} else {
			l, err := net.Listen(network("tcp", addr), addr)
			if err == nil {
				r.Addr = l.Addr().String()
				serve = append(serve, func() { accept(l, say) })
			}
			r.setError(err)
		}
		res.Ports = append(res.Ports, r)
	}
	emit(res)
	for _, s := range serve {
		go s()
	}
	select {}
}

func (r *PortResult) setError(err error) {
	if err != nil {
		r.Error, r.EADDRINUSE = err.Error(), errors.Is(err, syscall.EADDRINUSE)
	}
}

func answer(pc net.PacketConn, token string) {
	buf := make([]byte, 64)
	for {
		_, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo([]byte(token), from)
	}
}

func accept(l net.Listener, token string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Write([]byte(token + "\n"))
		c.Close()
	}
}

// dialports PROTO HOST PORT...: fetch the token served at each port, as
// "dial" does, reporting each.
func helperDialPorts(args []string) error {
	if len(args) < 3 {
		return errors.New("usage: dialports PROTO HOST PORT...")
	}
	var res PortsResult
	for _, a := range args[2:] {
		port, err := strconv.ParseUint(a, 10, 16)
		if err != nil {
			return fmt.Errorf("port %q: %w", a, err)
		}
		r := PortResult{Port: uint16(port)}
		d, err := DialToken(args[0], net.JoinHostPort(args[1], a))
		r.Token, r.Addr = d.Token, d.Remote
		r.setError(err)
		res.Ports = append(res.Ports, r)
	}
	emit(res)
	return nil
}

// DialToken fetches the token served at addr over proto, from this process.
func DialToken(proto, addr string) (DialResult, error) {
	if proto != "udp" {
		c, err := net.DialTimeout(network("tcp", addr), addr, 5*time.Second)
		if err != nil {
			return DialResult{}, err
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			return DialResult{}, err
		}
		return DialResult{Token: trimLine(buf[:n]), Remote: c.RemoteAddr().String(), Local: c.LocalAddr().String()}, nil
	}
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return DialResult{}, err
	}
	nw, local := "udp4", "0.0.0.0:0"
	if to.IP.To4() == nil {
		nw, local = "udp6", "[::]:0"
	}
	pc, err := net.ListenPacket(nw, local)
	if err != nil {
		return DialResult{}, err
	}
	defer pc.Close()
	buf := make([]byte, 64)
	for range 20 {
		if _, err := pc.WriteTo([]byte("ping"), to); err != nil {
			return DialResult{}, err
		}
		pc.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		n, from, err := pc.ReadFrom(buf)
		if err == nil {
			return DialResult{Token: string(buf[:n]), Remote: from.String(), Local: pc.LocalAddr().String()}, nil
		}
	}
	return DialResult{}, fmt.Errorf("no UDP answer from %s", addr)
}

func trimLine(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return string(b)
}
