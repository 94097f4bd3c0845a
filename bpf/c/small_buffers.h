/* A connection whose programs set small buffers at both ends of one
 * direction stays off the map. With the sender's SO_SNDBUF and the
 * receiver's SO_RCVBUF both small, the bound (normal_path.h) lets less than
 * one 64 KiB write be redirected at a time, most bytes take a member's normal
 * path, and that path is slower than plain TCP (sockmap's send and receive
 * paths): 0.65-0.77 x plain with both ends at 64 KiB, on both machine kinds
 * measured. Plain TCP is better there.
 *
 * Decided when the accepted socket is established, before it joins: nothing
 * has been redirected to either end yet, so the client, which joined first,
 * can leave without anything in flight to it (leave.h; a member leaving later
 * could have a redirect from its peer queued after its psock stopped, which
 * the kernel drops). So only sizes set before connect(2) and on the listener
 * (an accepted socket inherits the listener's) count. Only a set size counts
 * (SOCK_SNDBUF_LOCK / SOCK_RCVBUF_LOCK): a buffer the kernel tunes starts
 * small and grows. */
#pragma once

#include "kernel.h"

#define SOCK_SNDBUF_LOCK 1
#define SOCK_RCVBUF_LOCK 2

/* Buffers at or below this (the kernel's figure: twice what the program
 * asked for) are small. */
#define SMALL_BUFFER (128 << 10)

static __always_inline int sndbuf_set_small(struct sock *sk)
{
	return (sk->sk_userlocks & SOCK_SNDBUF_LOCK) && sk->sk_sndbuf <= SMALL_BUFFER;
}

static __always_inline int rcvbuf_set_small(struct sock *sk)
{
	return (sk->sk_userlocks & SOCK_RCVBUF_LOCK) && sk->sk_rcvbuf <= SMALL_BUFFER;
}

/* Whether either direction between the two sockets has both its buffers set
 * small. The client is read through its record's unreferenced kptr
 * (kernel.h). */
static __always_inline int buffers_set_small(struct tcp_sock *server, struct tcp_sock *client)
{
	struct sock *s = (void *)server, *c = (void *)client;

	if (!s || !c)
		return 0;
	return (sndbuf_set_small(c) && rcvbuf_set_small(s)) ||
	       (sndbuf_set_small(s) && rcvbuf_set_small(c));
}
