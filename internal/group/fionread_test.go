package group

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sockshim/sockshim/internal/testenv"
)

// A bypassed reader's FIONREAD counts every queued byte, those redirected
// and those that came by the normal path when flow control switched the
// writer over, as plain loopback's counts its queue. (Kernel 6.18.44 leaves
// the normal-path bytes out unless the socket map has a stream_verdict,
// which the first load attaches where its probe finds that.)
func TestFIONREADCountsBothPaths(t *testing.T) {
	e := newEnv(t)
	const rcvbuf, n = 128 << 10, 128 << 10 // 3/8 of 256 KiB may be redirected; the rest goes by TCP
	for _, bypass := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "bypass"}[bypass]
		_, reader := e.group(t, name+"-reader", bypass)
		writerRec, writer := e.group(t, name+"-writer", bypass)
		srv := testenv.Start(t, reader, "queued", "127.0.0.1:0", fmt.Sprint(rcvbuf))
		var l testenv.ListenResult
		srv.JSON(t, helperTimeout, &l)
		// The reader holds the connection before the first byte: bytes
		// queued on a socket before it joins the map are outside this
		// test (README, "Which sockets the bypass carries").
		goFile := filepath.Join(t.TempDir(), "go")
		cli := testenv.Start(t, writer, "write", l.Addr, fmt.Sprint(n), goFile)
		var a testenv.Accepted
		srv.JSON(t, helperTimeout, &a)
		if err := os.WriteFile(goFile, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		var w testenv.WriteResult
		var q testenv.QueuedResult
		cli.JSON(t, helperTimeout, &w)
		srv.JSON(t, helperTimeout, &q)
		if q.FIONREAD != n || q.Read != n {
			t.Errorf("%s: FIONREAD %d, then read %d bytes; want %d both", name, q.FIONREAD, q.Read, n)
		}
		c := counters(t, e, writerRec.CgroupID)
		t.Logf("%s: FIONREAD %d of %d; redirected %d bytes, %d normal-path switches", name, q.FIONREAD, n, c.Bytes, c.NormalPath)
		if bypass && (c.Bytes == 0 || c.Bytes >= n) {
			t.Errorf("bypass: %d of %d bytes redirected; the test needs both paths", c.Bytes, n)
		}
	}
}
