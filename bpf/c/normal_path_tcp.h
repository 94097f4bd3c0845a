/* The TCP settings of a member that uses the normal path (flow control,
 * normal_path.h): set at its transmissions once it has used that path, so a
 * connection whose bytes are all redirected keeps TCP's own, and taken back
 * when it leaves the map (leave.h). */
#pragma once

#include <linux/tcp.h>

#include "normal_path.h"

#define BYPASS_NOTSENT_LOWAT (16 << 10)

/* A member's writer waits once BYPASS_NOTSENT_LOWAT bytes sit unsent in
 * TCP's queue, instead of filling its whole send buffer there (4 MiB by
 * default). Redirected bytes never sit in TCP's queue, so this only shortens
 * each stretch on the normal path: the writer yields to its reader sooner,
 * TCP's queue empties sooner, and redirects resume sooner (measured with
 * sockshim bench --mode stream, writer and reader on one CPU: 54-58 % of the
 * bytes went by TCP without it, 16-40 % with it). A program's own
 * TCP_NOTSENT_LOWAT is kept, and ours is taken back when the socket leaves
 * the map (leave.h). */
static __always_inline void limit_unsent(struct bpf_sock_ops *skops)
{
	int lowat = 0;
	__u8 *mark;

	/* Only once the socket has switched to the normal path (the sk_msg
	 * program marked it), at its first transmission there, before
	 * sendmsg queues the bytes: a connection that never switches pays
	 * nothing. */
	if (!skops->sk)
		return;
	mark = bpf_sk_storage_get(&bypass_normal_path, skops->sk, 0, 0);
	if (!mark || !(*mark & ON_NORMAL_PATH) || (*mark & UNSENT_LIMITED))
		return;
	*mark |= UNSENT_LIMITED;
	if (bpf_getsockopt(skops, SOL_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)) || lowat)
		return;
	lowat = BYPASS_NOTSENT_LOWAT;
	bpf_setsockopt(skops, SOL_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
}

/* A member advertises at most half of its receive buffer as window, so that
 * what its TCP promised the sender (about that much memory, since a loopback
 * skb carries nearly its size in payload) and what redirects may queue
 * (three eighths, peer_room; the last eighth is for the skbs' overhead) fit
 * in the buffer together: a sender switching to the normal path is never
 * sent into memory the redirects took, where its segments would be dropped. The kernel's own tuning raises the clamp with
 * the buffer (tcp_rcv_space_adjust); the next transmission lowers it again.
 * Half, not less: a quarter measured 0.8 x plain TCP with a 64 KiB
 * SO_RCVBUF, half 1.0-1.2 x, both with no dropped segment. */
static __always_inline void clamp_window(struct bpf_sock_ops *skops, struct tcp_sock *tp)
{
	int clamp = ((struct sock *)tp)->sk_rcvbuf >> 1;

	/* Before the first byte by the normal path, the window is the
	 * handshake's, no larger than half the buffer: a connection whose
	 * bytes are all redirected pays nothing. */
	if (!tp->bytes_received || tp->window_clamp <= (__u32)clamp)
		return;
	bpf_setsockopt(skops, SOL_TCP, TCP_WINDOW_CLAMP, &clamp, sizeof(clamp));
}

/* The clamp back to what the kernel gives a buffer of that size
 * (tcp_win_from_space), when a socket leaves the map. */
static __always_inline void unclamp_window(struct bpf_sock_ops *skops, struct tcp_sock *tp)
{
	int rcvbuf = ((struct sock *)tp)->sk_rcvbuf, clamp = rcvbuf >> 1;

	if (bpf_core_field_exists(tp->scaling_ratio) && tp->scaling_ratio)
		clamp = (int)(((__u64)rcvbuf * tp->scaling_ratio) >> 8);
	if (tp->window_clamp < (__u32)clamp)
		bpf_setsockopt(skops, SOL_TCP, TCP_WINDOW_CLAMP, &clamp, sizeof(clamp));
}

static __always_inline void unlimit_unsent(struct bpf_sock_ops *skops)
{
	int lowat = 0;

	if (bpf_getsockopt(skops, SOL_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)) ||
	    lowat != BYPASS_NOTSENT_LOWAT)
		return;
	lowat = 0;
	bpf_setsockopt(skops, SOL_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
}

/* Both settings, at a member's transmission. */
static __always_inline void tune_normal_path(struct bpf_sock_ops *skops, struct tcp_sock *tp)
{
	clamp_window(skops, tp);
	limit_unsent(skops);
}

/* Both settings back, when a socket leaves the map. */
static __always_inline void untune_normal_path(struct bpf_sock_ops *skops, struct tcp_sock *tp)
{
	unlimit_unsent(skops);
	unclamp_window(skops, tp);
}
