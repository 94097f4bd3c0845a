package bpf

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/internal/testenv"
)

func ifAddrs(t *testing.T, prefixes ...string) []net.Addr {
	t.Helper()
	var out []net.Addr
	for _, p := range prefixes {
		ip, n, err := net.ParseCIDR(p)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		out = append(out, n)
	}
	return out
}

func as16(s string) [16]byte { return netip.MustParseAddr(s).As16() }

// Link-local addresses fill only the room the others leave, those already
// held first; loopback is never held; IPv4 is held in its mapped form.
func TestHostAddrsToHoldPutsLinkLocalLast(t *testing.T) {
	addrs := ifAddrs(t, "127.0.0.1/8", "::1/128", "fe80::3/64", "192.0.2.2/24", "fe80::1/64", "fd00::2/64", "fe80::2/64", "169.254.1.1/16")
	present := map[[16]byte]bool{as16("fe80::3"): true, as16("fd00::9"): true}
	got, err := hostAddrsToHold(addrs, present, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"::ffff:192.0.2.2", "fd00::2", "::ffff:169.254.1.1", "fe80::3"}
	if len(got) != len(want) {
		t.Errorf("held %d addresses, want %d", len(got), len(want))
	}
	for _, w := range want {
		if !got[as16(w)] {
			t.Errorf("%s not held", w)
		}
	}
	got, err = hostAddrsToHold(addrs, present, 5)
	if err != nil || !got[as16("fe80::1")] || got[as16("fe80::2")] {
		t.Errorf("with room for one more link-local: %v, %v; want fe80::1 (the lowest) and not fe80::2", got, err)
	}
	_, err = hostAddrsToHold(addrs, present, 2)
	if err == nil || !strings.Contains(err.Error(), "3 addresses") || !strings.Contains(err.Error(), "at most 2") {
		t.Errorf("3 other addresses and room for 2: %v, want an error saying so", err)
	}
}

// On a host whose bridge networks give it more link-local addresses than
// host_addrs holds (a veth each), a set-up still syncs: its other addresses
// are held and link-local ones fill the rest. Run in a network namespace of
// the test's own with 1,100 link-local addresses; then with more other
// addresses than the map holds, the sync says so.
func TestSyncHostAddrsBesideManyLinkLocal(t *testing.T) {
	k := openTestKernel(t)
	ns := testenv.Netns(t)
	lines := []string{"link add sst0 type veth peer name sst1", "link set sst0 up",
		"addr add 192.0.2.77/24 dev sst0", "addr add 2001:db8::1/64 dev sst0 nodad"}
	for i := range 1100 {
		lines = append(lines, fmt.Sprintf("addr add fe80::1:%x/64 dev sst0 nodad", i))
	}
	testenv.IPBatch(t, ns, lines)
	var err error
	testenv.InNetns(t, ns, func() { err = k.syncHostAddrs() })
	if err != nil {
		t.Fatalf("sync beside 1,100 link-local addresses: %v", err)
	}
	m, err := k.bpfMap(mapHostAddrs)
	if err != nil {
		t.Fatal(err)
	}
	held := map[[16]byte]bool{}
	if err := forEach(m, func(key [16]byte, _ uint8) { held[key] = true }); err != nil {
		t.Fatal(err)
	}
	if len(held) != int(m.MaxEntries()) || !held[as16("::ffff:192.0.2.77")] || !held[as16("2001:db8::1")] {
		t.Fatalf("%d addresses held (map holds %d), 192.0.2.77 %v, 2001:db8::1 %v: want a full map with both",
			len(held), m.MaxEntries(), held[as16("::ffff:192.0.2.77")], held[as16("2001:db8::1")])
	}

	lines = nil
	for i := range 1100 {
		lines = append(lines, fmt.Sprintf("addr add 198.18.%d.%d/32 dev sst0", i/256, i%256))
	}
	testenv.IPBatch(t, ns, lines)
	testenv.InNetns(t, ns, func() { err = k.syncHostAddrs() })
	if err == nil || !strings.Contains(err.Error(), "1102 addresses") {
		t.Fatalf("sync beside 1,102 other addresses: %v, want an error counting them", err)
	}
}
