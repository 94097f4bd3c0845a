package testenv

import (
	"regexp"
	"strings"
)

// A kernel bug sockshim's workload can meet but cannot cause or avoid: its
// report is logged, not failed on (README, "A close racing a redirect").
type knownKernelRace struct {
	headline *regexp.Regexp // the report's first line
	why      string
}

var knownKernelRaces = []knownKernelRace{{
	// sock_map_destroy and sock_map_close read the socket's saved
	// callbacks from its psock, or from sk_prot once the psock is gone. A
	// peer's redirect into the socket holds a psock reference until after
	// it woke the reader; when the socket is read and closed before that
	// reference is put, the put drops the psock on the peer's CPU while the
	// close reaches destroy, which finds no psock and an sk_prot not yet
	// restored, and warns instead of recursing (6.18.44).
	headline: regexp.MustCompile(`^WARNING: CPU: \d+ PID: \d+ at net/core/sock_map\.c:\d+ sock_map_(destroy|close)\+`),
	why:      "kernel sockmap race: a socket closed while a peer's redirect into it still held its psock (README, \"A close racing a redirect\")",
}}

// A kernel report's lines between its first line and its end that mark it
// as a problem but name none themselves.
const kernelTraceMark = "Call Trace:"

// kernelReportEnd ends a WARNING's report; a BUG's or an Oops's ends the
// same way.
const kernelReportEnd = "---[ end trace"

// judgeKernelMessages sorts the problem lines of msgs (kernel log messages in
// order) into those of known kernel races, with the reason, and the rest.
// A call trace belongs to the report whose first line came last before it;
// a report ends at its end-of-trace line.
func judgeKernelMessages(msgs []string) (problems, known []string) {
	var current *knownKernelRace // the open report's race, if it is a known one
	for _, msg := range msgs {
		if strings.Contains(msg, kernelReportEnd) {
			current = nil
			continue
		}
		if !kernelProblem(msg) {
			continue
		}
		line := msg
		if !strings.Contains(msg, kernelTraceMark) { // a report's first line
			current = knownRace(msg)
			if current != nil {
				line = msg + ": " + current.why
			}
		}
		if current != nil {
			known = append(known, line)
		} else {
			problems = append(problems, msg)
		}
	}
	return problems, known
}

// knownRace returns the known race whose report headline is msg, or nil.
func knownRace(msg string) *knownKernelRace {
	for i := range knownKernelRaces {
		if knownKernelRaces[i].headline.MatchString(strings.TrimSpace(msg)) {
			return &knownKernelRaces[i]
		}
	}
	return nil
}
