package bench

import (
	"io"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Each end leads a session of its own, as a runc container's first process
// does, so that the two ends are two scheduling groups under autogroup;
// with OneSession both stay in the caller's. The end here is a shell that
// prints its pid and session id (fields 1 and 6 of /proc/self/stat).
func TestBenchEndsLeadTheirOwnSession(t *testing.T) {
	ownSID, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, one := range []bool{false, true} {
		b := &bencher{Options: Options{Self: "/bin/sh", Progress: io.Discard, OneSession: one}}
		out, err := b.command("unix", "client", "-c", `read -r pid _ _ _ _ sid _ < /proc/self/stat; echo "$pid $sid"`).Output()
		if err != nil {
			t.Fatalf("one session %v: %v", one, err)
		}
		f := strings.Fields(string(out))
		if len(f) != 2 {
			t.Fatalf("one session %v: output %q", one, out)
		}
		pid, _ := strconv.Atoi(f[0])
		sid, _ := strconv.Atoi(f[1])
		want, says := pid, "each in its own session"
		if one {
			want, says = ownSID, "in one session"
		}
		if sid != want {
			t.Errorf("one session %v: end %d in session %d, want %d (the test's is %d)", one, pid, sid, want, ownSID)
		}
		if !strings.Contains(b.placement(), says) {
			t.Errorf("one session %v: placement %q does not say %q", one, b.placement(), says)
		}
	}
}
