package bpf

import (
	"os"
	"path/filepath"

	"github.com/sockshim/sockshim/internal/sockmapprobe"
)

// StreamVerdictEnv overrides the first load's choice of the no-op
// stream_verdict on the socket map: "always" or "never" (benchmarks compare
// both); unset or "auto", the kernel is probed.
const StreamVerdictEnv = "SOCKSHIM_STREAM_VERDICT"

// streamVerdictPinned is a directory among the pinned programs that says the
// no-op stream_verdict is attached to the socket map (bpffs holds no plain
// files).
const streamVerdictPinned = "stream-verdict"

// needStreamVerdict decides whether the socket map gets the no-op
// stream_verdict. Without one, some kernels (6.18.44 among them) answer
// FIONREAD with 0 for bytes that reached a member by the normal path, and
// programs that size their reads with it stall; with one, every
// normal-path skb of a member goes through the verdict, which costs each
// connection its set-up (measured: about 6 % of the connection rate). So it
// is attached only where a probe in a private map finds the regression, or
// when the probe cannot tell.
func needStreamVerdict() bool {
	switch v := os.Getenv(StreamVerdictEnv); v {
	case "always":
		return true
	case "never":
		return false
	case "", "auto":
	default:
		return true // an unknown value keeps the safe choice
	}
	// FIONREAD is right at the wakeup or not at all: the probe's one
	// segment is queued before it, so no settling time is needed.
	n, sent, woke, err := sockmapprobe.FIONREAD(false, 0)
	return err != nil || n < sent || !woke
}

// StreamVerdict reports whether the no-op stream_verdict is attached to the
// socket map.
func (k *Kernel) StreamVerdict() bool {
	_, err := os.Stat(filepath.Join(k.progsDir(), streamVerdictPinned))
	return err == nil
}
