package doctor

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/internal/testenv"
)

func TestRunOnThisHost(t *testing.T) {
	testenv.RequireRoot(t)
	for _, c := range Run(Options{BPFFS: "/sys/fs/bpf/sockshim"}) {
		t.Logf("%s: ok=%v %s", c.Name, c.OK, c.Detail)
		if !c.OK && c.Required {
			t.Errorf("%s failed: %s", c.Name, c.Detail)
		}
	}
}

func TestProbeFIONREAD(t *testing.T) {
	testenv.RequireRoot(t)
	n, sent, woke, err := ProbeFIONREAD(true)
	if err != nil {
		t.Fatal(err)
	}
	if n != sent || !woke {
		t.Fatalf("with the no-op stream_verdict: FIONREAD %d of %d, wakeup %v", n, sent, woke)
	}
	bare, sent, woke, err := ProbeFIONREAD(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("without an SK_SKB verdict: FIONREAD %d of %d, wakeup %v", bare, sent, woke)
}

func TestReport(t *testing.T) {
	var b bytes.Buffer
	ok := Report(&b, []Check{
		{Name: "a", OK: true, Detail: "fine"},
		{Name: "b", Detail: "gone", Fix: "degrades"},
	})
	if !ok || !strings.Contains(b.String(), "ok    a: fine") || !strings.Contains(b.String(), "WARN  b: gone (degrades)") {
		t.Fatalf("report %q ok=%v", b.String(), ok)
	}
	b.Reset()
	if Report(&b, []Check{{Name: "c", Required: true, Detail: "missing", Fix: "install it"}}) {
		t.Fatal("a failed required check reported ok")
	}
	if !strings.Contains(b.String(), "FAIL  c: missing (fix: install it)") {
		t.Fatalf("report %q", b.String())
	}
}
