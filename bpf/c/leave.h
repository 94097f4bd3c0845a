/* A member that must leave the map: its file turned blocking (or asked for
 * a low-water mark) after it joined, an accepted socket whose listener was
 * non-blocking but which reads the blocking way, or a member whose peer left
 * or never joined (one end off the map means plain TCP for both).
 *
 * Checked at each of the member's own transmissions (the TCP option length
 * callback: every segment it sends and every send's MSS computation), where
 * its socket is locked. Leaving drops what the psock holds, so a member
 * leaves only when its psock is empty; until then its peer sends to it by
 * the normal path (the sk_msg program checks the target's file at every
 * message) and it sends by the normal path itself, so it transmits again
 * soon. A socket that turns blocking while it only waits to read, with
 * nothing to transmit, stays until its next transmission.
 *
 * Kernel constraint: a redirect takes the target's lock only after its
 * verdict chose the target and took a reference to its psock, and a message
 * queued to a psock that stops meanwhile is freed without an error. So a
 * member leaves only once its peer no longer decides redirects to it (its
 * file reads the blocking way, or its peer left or never joined). One
 * window stays open: a redirect decided just before that and still waiting
 * for the member's lock when it leaves is lost. Leaving while the peer still
 * redirected (tried for small buffers, now decided before joining:
 * small_buffers.h) hit it under load; the cases here have not in tests
 * (TestBypassTurnedBlockingUnderLoad: 3 x 10 rounds of 64 connections
 * both ways, 936 members turned blocking mid-stream, 140 GiB intact). */
#pragma once

#include "normal_path_tcp.h"
#include "read_guard.h"

/* Needs bypass_sockets and bypass_counters, which bypass.c declares before
 * including this file. */

static __always_inline void count_left(struct group_config *cfg)
{
	struct redirect_counters *c = bpf_map_lookup_elem(&bypass_counters, &cfg->group_id);

	if (c)
		c->left_map++;
}

/* Makes the member of self leave when it must and can; returns whether the
 * socket is a member afterwards. */
static __always_inline int leave_if_misread(struct bpf_sock_ops *skops, struct tcp_sock *tp,
					    struct sock_key *self, struct group_config *cfg)
{
	struct peer_ref *r = bpf_map_lookup_elem(&bypass_peer_refs, self), *pr;
	struct sock_key peer;
	int known;

	if (!r)
		return 0; /* not a member, or no longer */
	if (!r->peer_left && (reads_like_tcp((void *)tp, &known) || !known))
		return 1;
	if (!psock_empty((void *)tp))
		return 1; /* at a later transmission */
	bpf_map_delete_elem(&bypass_sockets, self);
	peer = peer_key(self);
	pr = bpf_map_lookup_elem(&bypass_peer_refs, &peer);
	if (pr)
		pr->peer_left = 1;
	bpf_map_delete_elem(&bypass_peer_refs, self);
	untune_normal_path(skops, tp);
	/* A member asked for the header-option callbacks (record_member); off
	 * the map it needs none of them, and the option-length one runs for
	 * every segment it sends and every send's MSS computation. The state
	 * callback stays: it lifts a probe cap at the socket's close. */
	uncap_probes(skops);
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags &
						 ~(BPF_SOCK_OPS_PARSE_ALL_HDR_OPT_CB_FLAG |
						   BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG));
	count_left(cfg);
	return 0;
}
