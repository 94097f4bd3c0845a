package doctor

import (
	"strings"
	"testing"

	"github.com/sockshim/sockshim/internal/sockmapprobe"
	"github.com/sockshim/sockshim/internal/testenv"
)

// The control must give plain TCP's exact result; the SOCKHASH result is
// whatever this kernel does, reported as present or fixed with its figures.
func TestReadProbes(t *testing.T) {
	testenv.RequireRoot(t)
	want := map[string]int{
		"sockmap read: signal wakeup": sockmapprobe.ProbeBytes,
		"sockmap read: MSG_WAITALL":   wholeBytes,
		"sockmap read: SO_RCVLOWAT":   wholeBytes,
		"sockmap read: splice":        sockmapprobe.ProbeBytes,
	}
	if len(readProbes) != len(want) {
		t.Fatalf("%d read probes, want %d", len(readProbes), len(want))
	}
	for _, p := range readProbes {
		t.Run(p.name, func(t *testing.T) {
			plain, err := p.run(false)
			if err != nil {
				t.Fatalf("plain TCP: %v", err)
			}
			if exact := (readResult{n: want[p.name], want: want[p.name]}); plain != exact {
				t.Errorf("plain TCP gave %v (%#v), want %v", plain, plain, exact)
			}
			mapped, err := p.run(true)
			if err != nil {
				t.Fatalf("in a SOCKHASH: %v", err)
			}
			t.Logf("plain TCP: %v; in a SOCKHASH: %v", plain, mapped)

			c := p.check()
			t.Logf("%s: %s", c.Name, c.Detail)
			if !c.OK || !c.Info || c.Required || c.Fix != "" {
				t.Errorf("check %+v is not informational", c)
			}
			verdict, figures, _ := strings.Cut(c.Detail, " (")
			if verdict != "present" && verdict != "fixed" {
				t.Errorf("verdict %q, want present or fixed", verdict)
			}
			if !strings.HasPrefix(figures, "plain TCP: "+plain.String()+"; in a SOCKHASH: ") {
				t.Errorf("detail %q lacks the figures", c.Detail)
			}
		})
	}
}

func TestReadProbesRepeat(t *testing.T) {
	testenv.RequireRoot(t)
	// Every run closes its sockets, pipe, map and program, also when the
	// reader had to be woken.
	before := testenv.OpenFDs(t)
	for i := 0; i < 5; i++ {
		for _, p := range readProbes {
			if _, err := p.run(i%2 == 0); err != nil {
				t.Fatalf("%s, run %d: %v", p.name, i, err)
			}
		}
	}
	if after := testenv.OpenFDs(t); after > before {
		t.Fatalf("%d fds open before the probes, %d after", before, after)
	}
}
