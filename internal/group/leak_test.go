package group

import (
	"fmt"
	"testing"

	"github.com/sockshim/sockshim/internal/testenv"
)

// Per-socket state dies with the socket: 100,000 bind/close cycles and a
// thousand bypassed connections leave every map at its starting size.
func TestNoLeaks(t *testing.T) {
	e := newEnv(t)
	_, cg := e.group(t, "leaky", true, tcp(3000), udp(3000))
	_, peer := e.group(t, "peer", true)
	before, err := e.k.MapSizes()
	if err != nil {
		t.Fatal(err)
	}
	var r testenv.BindLoopResult
	testenv.Run(t, cg, 5*helperTimeout, &r, "bindloop", "100000", "3000")
	if r.Failed != 0 {
		t.Fatalf("%d of %d binds of 3000 failed", r.Failed, r.Cycles)
	}
	for i := 0; i < 200; i++ {
		srv := testenv.Start(t, cg, "exchange", "listen", "127.0.0.1:0", "1000", fmt.Sprint(i))
		var l testenv.ListenResult
		srv.JSON(t, helperTimeout, &l)
		var rc testenv.ExchangeResult
		testenv.Run(t, peer, helperTimeout, &rc, "exchange", "dial", l.Addr, "1000", fmt.Sprint(i+1))
		srv.Wait(helperTimeout)
	}
	after, err := e.k.MapSizes()
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range before {
		if after[name] != n {
			t.Errorf("map %s: %d entries after, %d before", name, after[name], n)
		}
	}
	t.Logf("map sizes before %v, after %v", before, after)
}
