/* A member that must leave the map: its file turned blocking (or asked for
 * a low-water mark) after it joined, an accepted socket whose listener was
 * non-blocking but which reads the blocking way, a member whose peer left
 * or never joined (one end off the map means plain TCP for both), or a
 * sender whose own and whose peer's buffers are both set small (below).
 *
 * Checked at each of the member's own transmissions (the TCP option length
 * callback: every segment it sends and every send's MSS computation), where
 * its socket is locked, so no redirect can queue to it meanwhile (a redirect
 * takes the target's lock). Leaving drops what the psock holds, so a member
 * leaves only when its psock is empty; until then its peer sends to it by
 * the normal path (the sk_msg program checks the target's file at every
 * message) and it sends by the normal path itself, so it transmits again
 * soon. A socket that turns blocking while it only waits to read, with
 * nothing to transmit, stays until its next transmission. */
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

#define SOCK_SNDBUF_LOCK 1
#define SOCK_RCVBUF_LOCK 2

/* Buffers at or below this (the kernel's figure: twice what the program
 * asked for) are small. */
#define SMALL_BUFFER (128 << 10)

/* Whether the program of the sending member set its SO_SNDBUF small, and
 * of its peer (the record pr) its SO_RCVBUF. With both, the bound
 * (normal_path.h) lets less than one 64 KiB write be redirected at a time,
 * most bytes take the member's normal path, and that path is slower than
 * plain TCP (sockmap's send and receive paths): 0.65-0.77 x plain with both
 * ends at 64 KiB, on both machine kinds measured. Plain TCP is better there,
 * so the connection leaves the map. Only a set size counts: a buffer the
 * kernel tunes starts small and grows. Read at a transmission by the normal
 * path, which such a connection soon makes. */
static __always_inline int sndbuf_small(struct tcp_sock *tp)
{
	struct sock *sk = (void *)tp;

	return (sk->sk_userlocks & SOCK_SNDBUF_LOCK) && sk->sk_sndbuf <= SMALL_BUFFER;
}

static __always_inline int peer_rcvbuf_small(struct peer_ref *pr)
{
	struct sock *peer = pr ? (void *)pr->sk : NULL;

	return peer && (peer->sk_userlocks & SOCK_RCVBUF_LOCK) && peer->sk_rcvbuf <= SMALL_BUFFER;
}

/* Makes the member of self leave when it must and can; returns whether the
 * socket is a member afterwards. */
static __always_inline int leave_if_misread(struct bpf_sock_ops *skops, struct tcp_sock *tp,
					    struct sock_key *self, struct group_config *cfg)
{
	struct peer_ref *r = bpf_map_lookup_elem(&bypass_peer_refs, self), *pr;
	struct sock_key peer = peer_key(self);
	int known, reads_right;

	if (!r)
		return 0; /* not a member, or no longer */
	reads_right = !r->peer_left && (reads_like_tcp((void *)tp, &known) || !known);
	if (reads_right && !sndbuf_small(tp))
		return 1; /* the common case: no lookup of the peer */
	pr = bpf_map_lookup_elem(&bypass_peer_refs, &peer);
	if (reads_right && !peer_rcvbuf_small(pr))
		return 1;
	if (!psock_empty((void *)tp))
		return 1; /* at a later transmission */
	bpf_map_delete_elem(&bypass_sockets, self);
	if (pr)
		pr->peer_left = 1;
	bpf_map_delete_elem(&bypass_peer_refs, self);
	untune_normal_path(skops, tp);
	count_left(cfg);
	return 0;
}
