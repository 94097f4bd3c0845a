package group

import (
	"path/filepath"
	"testing"

	"github.com/sockshim/sockshim/internal/testenv"
)

// Child cgroups made inside a group get the same treatment: a server in a
// grandchild binds 3000 onto the group's host port, and what a sender in a
// child pushes through the bypass counts for the group.
func TestChildCgroupsGetTheTreatment(t *testing.T) {
	e := newEnv(t)
	rec, cg := e.group(t, "parent", true, tcp(3000))
	grandchild := testenv.Cgroup(t, cg, filepath.Join("child", "grandchild"))

	p := testenv.Start(t, grandchild, "listen", "tcp", "127.0.0.1:3000", "deep")
	var l testenv.ListenResult
	p.JSON(t, helperTimeout, &l)
	if got := portOf(t, l.Addr); got != 3000 {
		t.Fatalf("getsockname in a grandchild says %d, want 3000", got)
	}
	var d testenv.DialResult
	testenv.Run(t, "", helperTimeout, &d, "dial", "tcp", withPort("127.0.0.1", hostPort(t, rec, "tcp", 3000)))
	if d.Token != "deep" {
		t.Fatalf("the group's host port reached %q, want the grandchild's server", d.Token)
	}

	_, peer := e.group(t, "peer", true)
	exchange(t, grandchild, "127.0.0.1:0", peer, 8<<20)
	checkRedirected(t, "the group, for its grandchild,", counters(t, e, rec.CgroupID), 8<<20)
}
