package bench

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const slabinfoSample = `slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
tw_sock_TCPv6          0      0    240   17    1 : tunables    0    0    0 : slabdata      0      0      0
TCPv6                 26     26   2496   13    8 : tunables    0    0    0 : slabdata      2      2      0
request_sock_TCP      24     24    328   12    1 : tunables    0    0    0 : slabdata      2      2      0
TCP                 1040   1092   2304   14    8 : tunables    0    0    0 : slabdata     78     78      0
`

func TestParseSlabinfoSumsTCPCaches(t *testing.T) {
	n, err := parseSlabinfo(strings.NewReader(slabinfoSample), tcpSocketCaches)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1066 {
		t.Fatalf("TCP sockets = %d, want 1040 + 26 = 1066 (request and timewait caches left out)", n)
	}
}

func TestParseSlabinfoRefusesBadInput(t *testing.T) {
	for name, text := range map[string]string{
		"no TCP cache":   "slabinfo - version: 2.1\nkmalloc-64 10 10 64 64 1\n",
		"not a count":    "TCP x 1092 2304 14 8\n",
		"negative count": "TCP -3 1092 2304 14 8\n",
	} {
		if n, err := parseSlabinfo(strings.NewReader(text), tcpSocketCaches); err == nil {
			t.Errorf("%s: got %d, want an error", name, n)
		}
	}
}

// Open sockets are counted: 1000 more while they are held. The count is the
// slab's, whole slabs at a time (a CPU's partly used slab counts as used),
// and the host's other sockets may come and go meanwhile, hence the margin.
func TestTCPSocketsAllocatedCountsOpenSockets(t *testing.T) {
	before, err := tcpSocketsAllocated()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
	}
	during, err := tcpSocketsAllocated()
	if err != nil {
		t.Fatal(err)
	}
	if during-before < 500 {
		t.Fatalf("TCP sockets %d before and %d with 1000 more open", before, during)
	}
}
