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
 * (ETIMEDOUT). While a member that may still send hears a zero window, its
 * window probes go at least every second (TCP_RTO_MAX_MS, kernel >= 6.15;
 * the default backs off to two minutes), so the abort comes within about two
 * seconds of the close. A peer that only shut down its sending side keeps
 * its socket and its record, and nothing is aborted.
 *
 * The cap is lifted as soon as the window opens or the member's own user
 * closes or shuts down its socket: the kernel gives up on an orphaned socket
 * whose probes have backed off to the cap (tcp_orphan_retries, "alive"), so
 * an orphan keeping the cap would be dropped after a second of zero window
 * with its last bytes unsent and no FIN, its peer waiting forever.
 */
#pragma once

#include <linux/tcp.h>

#include "normal_path.h"

#define TCP_USER_TIMEOUT 18
#define TCP_RTO_MAX_MS 44 /* UAPI since 6.15; Debian 12's headers lack it */
#define PROBE_RTO_MAX_MS 1000

/* Called by a member's state callback when its socket closes: its peer's
 * record learns it. */
static __always_inline void tell_peer_closed(struct sock_key *peer)
{
	struct peer_ref *r = bpf_map_lookup_elem(&bypass_peer_refs, peer);

	if (r)
		r->peer_closed = 1;
}

/* Per socket, while its window probes are capped: the cap it had before (in
 * ms). A socket gets an entry only when it first hears a zero window, so
 * every other segment pays a lookup in its own socket, not a hash lookup.
 * The kernel frees the entry with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bypass_probe_caps SEC(".maps");

/* Window probes back to the cap the socket had before. */
static __always_inline void uncap_probes(struct bpf_sock_ops *skops)
{
	__u32 *saved;
	int ms;

	if (!skops->sk)
		return;
	saved = bpf_sk_storage_get(&bypass_probe_caps, skops->sk, 0, 0);
	if (!saved || !*saved)
		return;
	ms = *saved;
	bpf_setsockopt(skops, SOL_TCP, TCP_RTO_MAX_MS, &ms, sizeof(ms));
	*saved = 0;
}

/* Window probes at least every PROBE_RTO_MAX_MS. Before 6.15 the kernel has
 * no TCP_RTO_MAX_MS: getsockopt fails and probes keep their backoff. */
static __always_inline void cap_probes(struct bpf_sock_ops *skops)
{
	int ms = 0, cap = PROBE_RTO_MAX_MS;
	__u32 *saved;

	if (!skops->sk)
		return;
	saved = bpf_sk_storage_get(&bypass_probe_caps, skops->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!saved || *saved)
		return;
	if (bpf_getsockopt(skops, SOL_TCP, TCP_RTO_MAX_MS, &ms, sizeof(ms)) || ms <= cap)
		return;
	if (bpf_setsockopt(skops, SOL_TCP, TCP_RTO_MAX_MS, &cap, sizeof(cap)))
		return;
	*saved = ms;
}

/* Called for each segment a member receives on TCP's slow path, where every
 * segment that changes the window goes. The PARSE_HDR_OPT callback runs
 * before TCP processes the segment's ACK, which re-arms the probe timer with
 * the limits set here. */
static __always_inline void watch_peer_window(struct bpf_sock_ops *skops, struct sock_key *self)
{
	struct tcphdr *th = (void *)(long)skops->skb_data;
	int user_timeout_ms = 1;
	struct peer_ref *r;

	/* skb_data is the TCP header in this callback. */
	if ((void *)(th + 1) > (void *)(long)skops->skb_data_end)
		return;
	if (th->window ||
	    (skops->state != BPF_TCP_ESTABLISHED && skops->state != BPF_TCP_CLOSE_WAIT)) {
		uncap_probes(skops);
		return;
	}
	cap_probes(skops);
	r = bpf_map_lookup_elem(&bypass_peer_refs, self);
	if (r && r->peer_closed)
		bpf_setsockopt(skops, SOL_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
}
