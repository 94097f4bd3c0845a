package rawsock

import (
	"testing"
	"time"
)

func TestDropsZeroOnAFreshSocket(t *testing.T) {
	client, server := pair(t)
	if err := WriteAll(client, []byte("x"), Timeout(time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, fd := range []int{client, server} {
		if n, err := Drops(fd); n != 0 || err != nil {
			t.Errorf("fd %d: %d drops (%v), want 0", fd, n, err)
		}
	}
	if _, err := Drops(-1); err == nil {
		t.Error("Drops of no socket: no error")
	}
}
