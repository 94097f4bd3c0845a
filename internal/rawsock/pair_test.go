package rawsock

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair is a non-blocking loopback pair closed with the test.
func pair(t *testing.T) (client, server int) {
	t.Helper()
	client, server, err := Pair(NonBlock, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(client); unix.Close(server) })
	return client, server
}

func TestPairMovesBytesBothWays(t *testing.T) {
	for name, f := range map[string]Flags{"non-blocking": NonBlock, "blocking": 0} {
		client, server, err := Pair(f, time.Second)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var w Waiter
		if f&NonBlock != 0 {
			w = Timeout(5 * time.Second)
		}
		for _, dir := range []struct {
			from, to int
			sent     []byte
		}{{client, server, []byte("client to server")}, {server, client, []byte("server to client")}} {
			sent := dir.sent
			if err := WriteAll(dir.from, sent, w); err != nil {
				t.Fatalf("%s: write: %v", name, err)
			}
			got := make([]byte, len(sent))
			if err := ReadFull(dir.to, got, w); err != nil || !bytes.Equal(got, sent) {
				t.Errorf("%s: read %q (%v), want %q", name, got, err, sent)
			}
		}
		unix.Close(client)
		unix.Close(server)
	}
}
