/* A member whose peer closed with unread bytes: plain TCP would reset it,
 * the bypass would leave it blocked for a minute.
 *
 * A socket closed with bytes it never read sends RST (tcp_close checks its
 * TCP receive queue). A member's unread bytes wait in its psock's queue, not
 * there, so it sends FIN instead. If those bytes had filled its window, the
 * peer's sends are stuck behind that zero window: the closed socket becomes
 * a FIN-WAIT-2 timewait entry that answers every window probe with the window
 * it had when it closed, zero, for tcp_fin_timeout (60 s); only then does a
 * probe draw a RST (measured on 6.18.44: a sender blocked 60 s after its
 * peer was killed).
 *
 * So each member tells its peer when its socket closes (peer_closed in the
 * peer's record), and a member that then hears a zero window from that peer
 * ends its connection as TCP ends one whose peer does not answer: through
 * TCP_USER_TIMEOUT, which aborts a zero-window sender on its next probe
 * (ETIMEDOUT). Window probes between members go at least every second
 * (TCP_RTO_MAX_MS, kernel >= 6.15, ignored before; the default backs off to
 * two minutes), so the abort comes within about two seconds of the close. A
 * peer that only shut down its sending side keeps its socket and its record,
 * and nothing is aborted.
 */
#pragma once

#include <linux/tcp.h>

#include "normal_path.h"

#define SOL_TCP 6
#define TCP_USER_TIMEOUT 18
#define TCP_RTO_MAX_MS 44 /* UAPI since 6.15; Debian 12's headers lack it */

/* Called by a member's state callback when its socket closes: its peer's
 * record learns it. */
static __always_inline void tell_peer_closed(struct sock_key *peer)
{
	struct peer_ref *r = bpf_map_lookup_elem(&bypass_peer_refs, peer);

	if (r)
		r->peer_closed = 1;
}

/* Called for each segment a member receives on TCP's slow path, where every
 * zero-window segment goes. The PARSE_HDR_OPT callback runs before TCP
 * processes the segment's ACK, which re-arms the probe timer with the limits
 * set here. */
static __always_inline void end_if_peer_closed(struct bpf_sock_ops *skops, struct sock_key *self)
{
	struct tcphdr *th = (void *)(long)skops->skb_data;
	int rto_max_ms = 1000, user_timeout_ms = 1;
	struct peer_ref *r;

	/* skb_data is the TCP header in this callback. */
	if ((void *)(th + 1) > (void *)(long)skops->skb_data_end)
		return;
	if (th->window)
		return;
	bpf_setsockopt(skops, SOL_TCP, TCP_RTO_MAX_MS, &rto_max_ms, sizeof(rto_max_ms));
	r = bpf_map_lookup_elem(&bypass_peer_refs, self);
	if (r && r->peer_closed)
		bpf_setsockopt(skops, SOL_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
}
