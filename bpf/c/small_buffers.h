/* A connection whose program set a small receive buffer at either end stays
 * off the map. With the receiver's SO_RCVBUF small, the bound
 * (normal_path.h) lets less than one 64 KiB write be redirected at a time,
 * most bytes take a member's normal path, and that path is slower than plain
 * TCP: the kernel schedules the psock's backlog work at every write-space
 * event of a socket in a sockmap (sk_psock_write_space), so a blocked writer
 * costs a kworker wakeup at each acknowledgement, one per window, and a
 * small window means many (sockshim bench --mode stream --rcvbuf 65536, AMD
 * EPYC VM: 79 % of the bytes by TCP, 85,000 context switches a second
 * against 5,000 for plain TCP, 0.66-0.74 x plain; off the map 0.99-1.01 x).
 * A small send buffer alone does not hurt: the reader's buffer, which the
 * kernel tunes, sets the bound.
 *
 * Decided before the client joins: at ACTIVE_ESTABLISHED the client reads
 * its own buffer and its listener's (an accepted socket inherits the
 * listener's), and stays off the map; its server then finds no record and
 * stays off too. The accepted socket checks its listener again before it
 * joins (listeners.h), for a buffer set between the two: then the client,
 * which joined first, leaves (leave.h), which it does only
 * at a transmission that finds its psock empty, so it can stay a member for
 * much of a transfer while its server streams to it. Nothing has been
 * redirected to either end before that check, so nothing is in flight to a
 * client that leaves (a member leaving later could have a redirect from its
 * peer queued after its psock stopped, which the kernel drops). So only
 * sizes set before connect(2) and on the listener count. Only a set size
 * counts (SOCK_RCVBUF_LOCK): a buffer the kernel tunes starts small and
 * grows. */
#pragma once

#include "kernel.h"

#define SOCK_RCVBUF_LOCK 2

/* Buffers at or below this (the kernel's figure: twice what the program
 * asked for) are small. */
#define SMALL_BUFFER (128 << 10)

static __always_inline int rcvbuf_set_small(struct sock *sk)
{
	return (sk->sk_userlocks & SOCK_RCVBUF_LOCK) && sk->sk_rcvbuf <= SMALL_BUFFER;
}
