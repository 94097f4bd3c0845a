package group

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/internal/testenv"
)

// Real programs between two bypass groups: whatever path their sockets take
// (redirected or plain TCP), they must work as on plain loopback.

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed (make test installs it): %v", name, err)
	}
	return p
}

// waitLine reads p's stdout lines until one contains s.
func waitLine(t *testing.T, p *testenv.Proc, s string) string {
	t.Helper()
	for range 100 {
		if l := p.Line(t, helperTimeout); strings.Contains(l, s) {
			return l
		}
	}
	t.Fatalf("no line with %q", s)
	return ""
}

// redis and redis-benchmark are both event loops on non-blocking sockets:
// the connections must be redirected both ways, and every request answered.
func TestRealProgramsRedis(t *testing.T) {
	e := newEnv(t)
	ra, a := e.group(t, "redis-server", true)
	rb, b := e.group(t, "redis-benchmark", true)
	port := fmt.Sprint(freePort(t)) // redis refuses port 0
	srv := testenv.StartCommand(t, a, lookPath(t, "redis-server"), "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	waitLine(t, srv, "Ready to accept connections")
	bench := testenv.StartCommand(t, b, lookPath(t, "redis-benchmark"), "-h", "127.0.0.1", "-p", port,
		"-c", "1", "-n", "20000", "-t", "ping,set,get", "-q")
	// One line per test; progress before the result is \r-separated.
	done := regexp.MustCompile(`^(PING_INLINE|PING_MBULK|SET|GET): [0-9.]+ requests per second`)
	for _, test := range []string{"PING_INLINE", "PING_MBULK", "SET", "GET"} {
		l := bench.Line(t, 4*helperTimeout)
		last := l[strings.LastIndexByte(l, '\r')+1:]
		if m := done.FindStringSubmatch(last); m == nil || m[1] != test {
			t.Fatalf("redis-benchmark: want %s's result, got %q", test, last)
		}
		t.Log(last)
	}
	if stderr, err := bench.Wait(helperTimeout); err != nil {
		t.Fatalf("redis-benchmark: %v\n%s", err, stderr)
	}
	ca, cb := counters(t, e, ra.CgroupID), counters(t, e, rb.CgroupID)
	t.Logf("redirected: redis-server %d bytes, redis-benchmark %d bytes", ca.Bytes, cb.Bytes)
	if ca.Bytes == 0 || cb.Bytes == 0 {
		t.Errorf("non-blocking event loops must be redirected: redis-server %d bytes, redis-benchmark %d", ca.Bytes, cb.Bytes)
	}
}

const fetchPy = `import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]))
c.request("GET", sys.argv[3])
r = c.getresponse()
if r.status != 200:
    sys.exit("HTTP status %d" % r.status)
open(sys.argv[4], "wb").write(r.read())
`

// python3 -m http.server (a blocking threaded server) and three clients
// that read their own ways: each must get exactly the file's bytes.
func TestRealProgramsHTTP(t *testing.T) {
	py := python3(t)
	e := newEnv(t)
	ra, a := e.group(t, "http-server", true)
	rb, b := e.group(t, "http-clients", true)
	dir := t.TempDir()
	body := make([]byte, 4<<20)
	rand.NewChaCha8([32]byte{1}).Read(body)
	if err := os.WriteFile(filepath.Join(dir, "file.bin"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	// -u: the "Serving HTTP on ... port N" line is printed at once.
	srv := testenv.StartCommand(t, a, py, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", dir)
	m := regexp.MustCompile(` port (\d+) `).FindStringSubmatch(waitLine(t, srv, "Serving HTTP"))
	if m == nil {
		t.Fatal("http.server printed no port")
	}
	port := m[1]
	url := fmt.Sprintf("http://127.0.0.1:%s/file.bin", port)
	out := t.TempDir()
	file := func(name string) string { return filepath.Join(out, name) }
	for _, c := range []struct {
		name string
		argv []string
	}{
		{"curl", []string{lookPath(t, "curl"), "-sSf", "--max-time", "20", "-o", file("curl"), url}},
		{"wget", []string{lookPath(t, "wget"), "-q", "--tries=1", "--timeout=20", "-O", file("wget"), url}},
		{"http.client", []string{py, "-c", fetchPy, "127.0.0.1", port, "/file.bin", file("http.client")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := file(c.name)
			p := testenv.StartCommand(t, b, c.argv...)
			if stderr, err := p.Wait(helperTimeout); err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			got, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("got %d bytes, want the file's %d (equal prefix %d)", len(got), len(body), commonPrefix(got, body))
			}
		})
	}
	ca, cb := counters(t, e, ra.CgroupID), counters(t, e, rb.CgroupID)
	t.Logf("redirected: http.server %d bytes, clients %d bytes", ca.Bytes, cb.Bytes)
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
