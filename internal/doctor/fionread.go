package doctor

import (
	"fmt"
	"time"

	"github.com/sockshim/sockshim/internal/sockmapprobe"
)

// probeTimeout bounds each wait of the read-path probes (connect, accept,
// the epoll wakeup, the read back).
const probeTimeout = time.Second

// fionreadSettle is how long the check waits for FIONREAD to reach the full
// count after the wakeup.
const fionreadSettle = 200 * time.Millisecond

// fionreadCheck runs the sockmap receive-path probe without and with the
// no-op stream_verdict that sockshim attaches to its SOCKHASH where the
// first finds the regression. The latter decides the check: where the
// verdict does not help, the bypass cannot be used.
func fionreadCheck() Check {
	c := Check{Name: "sockmap FIONREAD"}
	var bare string
	n, sent, woke, err := sockmapprobe.FIONREAD(false, fionreadSettle)
	switch {
	case err != nil:
		bare = fmt.Sprintf("without SK_SKB verdict: probe failed: %v", err)
	case n == sent && woke:
		c.OK = true
		c.Detail = fmt.Sprintf("without SK_SKB verdict: FIONREAD=%d of %d (no regression: sockshim attaches no stream_verdict)", n, sent)
		return c
	default:
		bare = fmt.Sprintf("without SK_SKB verdict: FIONREAD=%d of %d%s (regression)", n, sent, wakeNote(woke))
	}

	n, sent, woke, err = sockmapprobe.FIONREAD(true, fionreadSettle)
	switch {
	case err != nil:
		c.Detail = fmt.Sprintf("%s; with no-op stream_verdict: probe failed: %v", bare, err)
		c.Fix = "the loopback bypass is refused on this host (containers still start); a kernel whose sockmap works"
	case n != sent || !woke:
		c.Detail = fmt.Sprintf("%s; with no-op stream_verdict: FIONREAD=%d of %d%s (the workaround does not work)", bare, n, sent, wakeNote(woke))
		c.Fix = "the loopback bypass is refused on this host (containers still start); a kernel whose sockmap receive path keeps FIONREAD and wakeups right"
	default:
		c.OK = true
		c.Detail = fmt.Sprintf("%s; with no-op stream_verdict: FIONREAD=%d (workaround works: sockshim attaches it)", bare, n)
	}
	return c
}

func wakeNote(woke bool) string {
	if woke {
		return ""
	}
	return ", no epoll wakeup"
}
