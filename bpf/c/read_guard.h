/* Which sockets may be in the bypass map: those whose reads the kernel's
 * sockmap receive path cannot change.
 *
 * Every socket in a SOCKHASH is read by tcp_bpf_recvmsg (or its _parser
 * variant), which waits once and returns EAGAIN to a blocking read woken
 * without data (a signal, a write-space wakeup), never looks at MSG_WAITALL
 * or SO_RCVLOWAT, and whose splice_read does not see its queue (6.18.44;
 * sockshim doctor probes each). A non-blocking read is answered the same by
 * both paths: what is queued, or EAGAIN at once. So a socket joins only
 * when its file is non-blocking and it asks for no low-water mark, and it
 * leaves when that stops being true (leave.h).
 *
 * The two ends decide at different times. The client is checked at
 * ACTIVE_ESTABLISHED, where its file is known. A server's accepted socket
 * has no file yet at PASSIVE_ESTABLISHED, the last callback at which it may
 * join the map, so its listener stands in for it (a child inherits the
 * listener's SO_RCVLOWAT, and a non-blocking listener is what event loops
 * use; but accept() without SOCK_NONBLOCK gives a blocking child): the child
 * is checked again once it has a file, at every message sent to it and at
 * its own transmissions, and leaves if it reads the blocking way. */
#pragma once

#include "kernel.h"

#define O_NONBLOCK 04000 /* the same on x86, arm64 and the other asm-generic ABIs */

/* Whether sk's reads through the sockmap path are what TCP's would be.
 * known is set when sk has a file to tell by (an accepted socket has none
 * until accept()). */
static __always_inline int reads_like_tcp(struct sock *sk, int *known)
{
	struct socket *sock = sk->sk_socket;
	struct file *file;

	*known = 0;
	if (!sock)
		return 0;
	file = sock->file;
	if (!file)
		return 0;
	*known = 1;
	return (file->f_flags & O_NONBLOCK) && sk->sk_rcvlowat <= 1;
}

/* The same, for a socket whose file is known to exist or that must not be
 * trusted without one. */
static __always_inline int file_reads_like_tcp(struct sock *sk)
{
	int known;

	return reads_like_tcp(sk, &known);
}
