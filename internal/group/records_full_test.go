package group

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/sockshim/sockshim/internal/testenv"
)

// fillPeerRefs fills the bypass's member records to the brim with records
// no socket has, as a host with 131,072 bypassed sockets would.
func fillPeerRefs(t *testing.T, e *env) {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(e.bpffs, "maps", "bypass_peer_refs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.KeySize() != 40 || m.ValueSize() != 24 {
		t.Fatalf("bypass_peer_refs has %d-byte keys and %d-byte values; the test writes 40 and 24", m.KeySize(), m.ValueSize())
	}
	keys := make([][40]byte, m.MaxEntries())
	values := make([][24]byte, m.MaxEntries())
	for i := range keys {
		binary.LittleEndian.PutUint32(keys[i][:], uint32(i)) // 0.0.x.y: no socket's address
	}
	if n, err := m.BatchUpdate(keys, values, nil); err != nil || n != len(keys) {
		t.Fatalf("fill bypass_peer_refs: %d of %d, %v", n, len(keys), err)
	}
}

// A socket that joins the bypass map but finds no room for its member
// record would be a member its peer cannot find and that nothing makes
// leave, read by the sockmap receive path: it must leave at once, and its
// connection stay plain TCP with every byte delivered.
func TestBypassWithoutRoomForRecordsStaysOffTheMap(t *testing.T) {
	for _, c := range []struct {
		name    string
		full    bool
		members int
	}{
		{"room", false, 2},
		{"records full", true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			ra, a := e.group(t, "a", true)
			rb, b := e.group(t, "b", true)
			if c.full {
				fillPeerRefs(t, e)
			}
			srv := testenv.Start(t, a, "backlog", "listen", "127.0.0.1:0", "1500")
			var l testenv.ListenResult
			srv.JSON(t, helperTimeout, &l)
			cli := testenv.Start(t, b, "backlog", "dial", l.Addr, fmt.Sprint(8<<20), "3")
			time.Sleep(time.Second) // connected, the receiver not reading yet
			sizes, err := testenv.MapSizes(e.bpffs)
			if err != nil {
				t.Fatal(err)
			}
			if got := sizes["bypass_sockets"]; got != c.members {
				t.Errorf("bypass_sockets holds %d sockets of the connection, want %d", got, c.members)
			}
			var rs, rc testenv.BacklogResult
			cli.JSON(t, helperTimeout, &rc)
			srv.JSON(t, helperTimeout, &rs)
			if rs.Recv != rc.Sent || rs.RecvSHA != rc.SentSHA || rc.Sent != 8<<20 {
				t.Fatalf("sent %d bytes (%s), received %d (%s), want 8 MiB both", rc.Sent, rc.SentSHA, rs.Recv, rs.RecvSHA)
			}
			ca, cb := counters(t, e, ra.CgroupID), counters(t, e, rb.CgroupID)
			if c.full && (ca.Bytes != 0 || cb.Bytes != 0) {
				t.Errorf("%d and %d bytes redirected without member records", ca.Bytes, cb.Bytes)
			}
			t.Logf("redirected: a %d, b %d bytes", ca.Bytes, cb.Bytes)
		})
	}
}
