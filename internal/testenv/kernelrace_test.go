package testenv

import (
	"slices"
	"strings"
	"testing"
)

// The report a CI run of TestNoLeaks met (6.18.44), cut to its telling
// lines, as /dev/kmsg records.
var sockMapDestroyReport = []string{
	"4,2918,26733806427,-;------------[ cut here ]------------\n",
	"4,2919,26733806441,-;WARNING: CPU: 1 PID: 5641 at net/core/sock_map.c:1696 sock_map_destroy+0x57/0x110\n",
	"4,2920,26733806485,-;CPU: 1 UID: 0 PID: 5641 Comm: group.test Not tainted 6.18.44-fc-v1252 #1 PREEMPT(none) \n",
	"4,2921,26733806496,-;RIP: 0010:sock_map_destroy+0x57/0x110\n",
	"4,2933,26733806597,-;Call Trace:\n",
	"4,2934,26733806624,-; <TASK>\n",
	"4,2935,26733806682,-; inet_csk_destroy_sock+0x4d/0x110\n",
	"4,2936,26733806709,-; __tcp_close+0x32f/0x410\n",
	"4,2980,26733807181,-; </TASK>\n",
	"4,2981,26733807184,-;---[ end trace 0000000000000000 ]---\n",
}

func messagesOf(records []string) []string {
	var msgs []string
	for _, r := range records {
		msgs = append(msgs, kernelRecordMessage(r))
	}
	return msgs
}

func TestJudgeKernelMessages(t *testing.T) {
	race := messagesOf(sockMapDestroyReport)
	other := messagesOf([]string{
		"4,1,2,-;------------[ cut here ]------------\n",
		"4,3,4,-;WARNING: CPU: 0 PID: 42 at net/core/skmsg.c:700 sk_psock_destroy+0x1/0x2\n",
		"4,5,6,-;Call Trace:\n",
		"4,7,8,-;---[ end trace 0000000000000000 ]---\n",
	})
	closeRace := slices.Clone(race)
	closeRace[1] = "WARNING: CPU: 0 PID: 7 at net/core/sock_map.c:1726 sock_map_close+0x10/0x20"
	// The same line in another function, or not a report's first line.
	lookalike := slices.Clone(race)
	lookalike[1] = "WARNING: CPU: 1 PID: 5641 at net/core/sock_map.c:1696 sock_map_unhash+0x57/0x110"
	quoted := []string{"sockshim: WARNING: CPU: 1 PID: 5641 at net/core/sock_map.c:1696 sock_map_destroy+0x57/0x110"}
	// Another CPU's report starting inside the race's.
	interleaved := slices.Concat(race[:5], []string{"BUG: kernel NULL pointer dereference, address: 0000000000000008", "Call Trace:"}, race[5:])
	// A trace after the race's report ended belongs to no known race.
	after := slices.Concat(race, []string{"Call Trace:"})

	cases := []struct {
		name            string
		msgs            []string
		problems, known int
	}{
		{"sock_map_destroy race", race, 0, 2},
		{"sock_map_close race", closeRace, 0, 2},
		{"two known reports", slices.Concat(race, race), 0, 4},
		{"another warning", other, 2, 0},
		{"race then another warning", slices.Concat(race, other), 2, 2},
		{"lookalike function", lookalike, 2, 0},
		{"not a headline", quoted, 1, 0},
		{"report inside the race's", interleaved, 2, 2},
		{"trace after the report", after, 1, 2},
		{"nothing", messagesOf([]string{"6,1,2,-;IPv6: ADDRCONF(NETDEV_CHANGE): veth0: link becomes ready\n"}), 0, 0},
	}
	for _, c := range cases {
		problems, known := judgeKernelMessages(c.msgs)
		if len(problems) != c.problems || len(known) != c.known {
			t.Errorf("%s: %d problems %q and %d known %q; want %d and %d",
				c.name, len(problems), problems, len(known), known, c.problems, c.known)
		}
	}
	_, known := judgeKernelMessages(race)
	if !strings.Contains(known[0], "sock_map_destroy") || !strings.Contains(known[0], "A close racing a redirect") {
		t.Errorf("the known race's line %q names neither the warning nor the README section", known[0])
	}
}
