/* When a bypassed socket's sends take the normal path, and when they may be
 * redirected again.
 *
 * A redirect moves a message into the peer's receive queue whatever that
 * queue holds: the kernel applies no flow control to sockmap redirects
 * (measured on 6.18.44: a sender whose peer never reads queues 1.5 GiB, until
 * the host's TCP memory reaches tcp_mem's pressure mark, and then gets
 * ENOMEM, as every other socket of the host starts being squeezed). So a
 * redirect is only made while the peer's queue stays within a part of the
 * peer's receive buffer (peer_room, below). Past that, the socket's sends
 * take the normal path, where TCP's window blocks the sender until the peer
 * reads (the bytes queued by redirects count in the peer's receive memory,
 * so its window is shut).
 *
 * Back to redirects only once the normal path is drained: every byte this
 * socket sent by it acknowledged by the peer, which the peer's TCP does only
 * after handing the bytes to its receive path, and none of them still waiting
 * there outside the ordered queue that redirects append to (the peer's TCP
 * receive queue, before accept, and its psock's ingress_skb backlog). A
 * redirect made earlier would overtake them. The same rule covers a socket
 * whose first sends found no peer record (connection start). */
#pragma once

#include "common.h"
#include "kernel.h"

/* Per socket, ON_NORMAL_PATH while its sends take the normal path, and
 * UNSENT_LIMITED once limit_unsent has run for it. A socket gets an entry
 * only when it first switches, so the redirect path pays a lookup, not a
 * write. The kernel frees the entry with the socket. Pinned like the other
 * maps so that the programs of a newer sockshim build see the marks. */
#define ON_NORMAL_PATH 1
#define UNSENT_LIMITED 2

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bypass_normal_path SEC(".maps");

/* Each member's record of itself, which its peer reads: an sk_msg program
 * cannot hold a reference to another socket (a SOCKHASH lookup takes one,
 * and bpf_sk_release is not allowed there), so the peer is reached through an
 * unreferenced kptr (kernel.h) that each member stores when it joins the map
 * and removes when it closes or leaves. */
struct peer_ref {
	struct tcp_sock __kptr_untrusted *sk;
	__u64 group_id; /* the group that recorded it, for clean-up on detach */
	__u32 peer_closed; /* set by the peer when its socket closed (closed_peer.h) */
	__u32 peer_left;   /* set when the peer left the map or never joined (leave.h) */
};

/* Key: the member's own 4-tuple (struct sock_key). Entries are created when
 * a socket joins bypass_sockets and deleted when it closes (state callback)
 * or when its group is detached (userspace). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 131072);
	__type(key, struct sock_key);
	__type(value, struct peer_ref);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bypass_peer_refs SEC(".maps");

/* Records the socket of skops as the member of key and asks for its state
 * changes, so that the record goes when the socket closes; returns whether
 * it did. */
static __always_inline int record_member(struct bpf_sock_ops *skops, struct sock_key *key, __u64 group_id)
{
	struct peer_ref ref = {.group_id = group_id}, *r;
	struct tcp_sock *tp = skops_tcp_sock(skops);

	if (!tp)
		return 0;
	if (bpf_map_update_elem(&bypass_peer_refs, key, &ref, BPF_ANY))
		return 0;
	r = bpf_map_lookup_elem(&bypass_peer_refs, key);
	if (!r)
		return 0;
	r->sk = tp;
	/* State changes: to remove the record on close. Every segment on the
	 * slow path: to see a peer that closed behind a zero window
	 * (closed_peer.h). TCP's fast path, which carries most normal-path
	 * segments, does not run the program. Every transmission (the option
	 * length callback; no option is written): to leave the map when the
	 * socket starts reading the blocking way or its peer left (leave.h).
	 * Redirected bytes make no segments, so none of these runs for them. */
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG |
						 BPF_SOCK_OPS_PARSE_ALL_HDR_OPT_CB_FLAG |
						 BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG);
	return 1;
}

/* The peer's socket, or NULL when the peer has no record (not a member, or
 * not yet one). */
static __always_inline struct tcp_sock *peer_socket(struct sock_key *peer)
{
	struct peer_ref *r = bpf_map_lookup_elem(&bypass_peer_refs, peer);

	return r ? r->sk : NULL;
}

/* How many more bytes fit on the peer's queue: at most three eighths of the
 * peer's receive buffer (SO_RCVBUF or the kernel's tuning; its receive
 * memory includes the bytes redirects queued there). The rest stays for the
 * normal path: TCP's window (clamped to half the buffer, normal_path_tcp.h)
 * was promised before the redirects took their memory, and a switch into a
 * peer whose memory they had filled met a shut window, dropped segments and
 * a retransmission timeout (with a 512 KiB SO_RCVBUF: 56 MB/s where plain TCP
 * moves 4.6 GB/s). The eighth between the two halves is for the skbs' own
 * overhead on top of the window's payload: with exactly half, an 8 MiB
 * SO_RCVBUF reader on a busy CPU had its queue pruned (2-6 zero-window drops
 * and retransmissions a second, sockshim bench --mode stream --rcvbuf 8388608
 * beside a CPU burner); with three eighths, none in the same runs. A small
 * queue also lets the copies out of it find the bytes in cache. */
static __always_inline __u32 peer_room(struct tcp_sock *peer_tp)
{
	struct sock *peer = (void *)peer_tp;
	__s64 limit = ((__s64)peer->sk_rcvbuf >> 1) - ((__s64)peer->sk_rcvbuf >> 3); /* no signed division before BPF ISA v4 */
	__s64 queued = peer->sk_backlog.rmem_alloc.counter;

	return queued < limit ? limit - queued : 0;
}

/* Whether every byte the sender sent by the normal path has reached the
 * peer's ordered receive queue (see the top of this file): the peer's TCP
 * has received all of it in order, and none of it waits in the peer's TCP
 * receive queue (before accept) or its psock's ingress_skb backlog. A peer
 * still handing bytes over in softirq holds its socket spinlock, which the
 * redirect takes before queueing (lock_sock), so it cannot overtake them. */
static __always_inline int normal_path_drained(struct tcp_sock *sender, struct tcp_sock *peer_tp)
{
	struct sock *peer = (void *)peer_tp;
	struct sk_psock___sockshim *psock = (void *)psock_of(peer);
	__u32 backlog = 1;

	if (peer_tp->rcv_nxt != sender->write_seq)
		return 0;
	if (peer->sk_receive_queue.qlen)
		return 0;
	if (!psock)
		return 0;
	if (bpf_core_read(&backlog, sizeof(backlog), &psock->ingress_skb.qlen))
		return 0;
	return backlog == 0;
}
