package group

import (
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// A connection whose ends set SO_RCVBUF to 64 KiB before connecting and
// listening stays off the map (bpf/c/small_buffers.h): the bound would
// redirect less than a write at a time and send the rest by the member's
// normal path, slower than plain TCP (0.66-0.74 x with the reader at 64 KiB).
// The client sees its own buffer and its listener's before it joins, so
// neither socket joins or leaves, nothing is redirected, and every byte
// arrives intact (exchange checks), as it does between two plain groups with
// the same buffers. Only the send buffers set small, or receive buffers above
// the threshold, is not enough: that connection stays, redirecting within
// the bound.
func TestBypassSmallBuffersStayOffTheMap(t *testing.T) {
	const n = 64 << 20
	for _, c := range []struct {
		name, sndbuf, rcvbuf string
		offMap               bool
	}{
		{"both buffers 64 KiB", "65536", "65536", true},
		{"receive buffers 64 KiB", "0", "65536", true},
		{"send buffers 64 KiB", "65536", "0", false},
		{"receive buffers 256 KiB", "0", "262144", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			_, pa := e.group(t, "plain-a", false)
			_, pb := e.group(t, "plain-b", false)
			ra, a := e.group(t, "a", true)
			rb, b := e.group(t, "b", true)
			if runs := sockopsRunsDuring(t, e, func() {
				exchangeVia(t, pa, "127.0.0.1:0", pb, 0, n, c.sndbuf, c.rcvbuf)
			}); runs != 0 {
				t.Fatalf("the sockops program ran %d times between plain groups", runs)
			}
			callbacks := sockopsRunsDuring(t, e, func() {
				exchangeVia(t, a, "127.0.0.1:0", b, 0, n, c.sndbuf, c.rcvbuf)
			})
			ca, cb := counters(t, e, ra.CgroupID), counters(t, e, rb.CgroupID)
			t.Logf("a redirected %d bytes (%d switches to the normal path, %d sockets left the map), b %d (%d, %d)",
				ca.Bytes, ca.NormalPath, ca.LeftMap, cb.Bytes, cb.NormalPath, cb.LeftMap)
			t.Logf("the sockops program ran %d times for the %d MiB", callbacks, n>>20)
			if !c.offMap {
				// Members ask for a callback at each segment they send.
				if callbacks < n/(64<<10) {
					t.Errorf("the sockops program ran %d times, fewer than the %d writes: were the members' callbacks asked for?", callbacks, n/(64<<10))
				}
				if ca.LeftMap != 0 || cb.LeftMap != 0 {
					t.Errorf("sockets that left the map: a %d, b %d; want none", ca.LeftMap, cb.LeftMap)
				}
				checkRedirected(t, "group a", ca, n)
				checkRedirected(t, "group b", cb, n)
				return
			}
			if ca.LeftMap != 0 || cb.LeftMap != 0 {
				t.Errorf("sockets that left the map: a (accepted) %d, b (client) %d; want none: the client joined", ca.LeftMap, cb.LeftMap)
			}
			if ca.Bytes != 0 || cb.Bytes != 0 {
				t.Errorf("%d and %d bytes redirected: the connection joined the map", ca.Bytes, cb.Bytes)
			}
			// Off the map a socket asks for no callback per segment: what
			// runs is the two sockets' set-up and close (20-21 runs; a
			// client that joined and left ran 50-2,100 times, as it
			// leaves only at a transmission that finds its psock empty).
			if callbacks > 40 {
				t.Errorf("the sockops program ran %d times: did a socket join the map?", callbacks)
			}
		})
	}
}

// sockopsRunsDuring is how many times the bypass's sockops program (this
// test's own, in its private bpffs) ran while f ran, counted by the kernel
// with its run statistics on.
func sockopsRunsDuring(t *testing.T, e *env, f func()) uint64 {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(e.bpffs, "progs", "*", "bypass_track_established"))
	if err != nil || len(paths) != 1 {
		t.Fatalf("pinned sockops program: %v %v", paths, err)
	}
	p, err := ebpf.LoadPinnedProgram(paths[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		t.Fatalf("enable BPF run statistics: %v", err)
	}
	defer stats.Close()
	runs := func() uint64 {
		s, err := p.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return s.RunCount
	}
	before := runs()
	f()
	return runs() - before
}
