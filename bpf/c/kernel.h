/* The kernel structures sockshim's bypass reads. They are not UAPI: the
 * loader relocates each field's offset against the running kernel's BTF
 * (CO-RE), so a kernel without BTF cannot load the bypass, and sockshim
 * degrades to the normal path with a warning. The kernel also matches the
 * kptrs of the maps to its own struct tcp_sock by that name; a tcp_sock
 * begins with its struct sock. */
#pragma once

#include <bpf/bpf_core_read.h>

#include "common.h"

struct file {
	unsigned int f_flags;
} __attribute__((preserve_access_index));

struct socket {
	struct file *file;
} __attribute__((preserve_access_index));

struct sock {
	int sk_rcvbuf;
	int sk_sndbuf;
	__u8 sk_userlocks; /* SOCK_RCVBUF_LOCK (small_buffers.h): set by setsockopt */
	int sk_rcvlowat;
	struct {
		struct {
			int counter;
		} rmem_alloc;
	} sk_backlog;
	struct {
		__u32 qlen;
	} sk_receive_queue;
	struct socket *sk_socket;
	void *sk_user_data;
} __attribute__((preserve_access_index));

struct tcp_sock {
	__u32 rcv_nxt;      /* next byte expected from the peer, in order */
	__u32 write_seq;    /* end of what the application wrote */
	__u32 window_clamp; /* the largest window it advertises */
	__u64 bytes_received; /* what its TCP received (not redirected bytes) */
	__u8 scaling_ratio; /* payload per 256 bytes of skb memory (6.7 and newer) */
} __attribute__((preserve_access_index));

struct list_head___sockshim {
	void *next;
};

/* The socket's sockmap state (include/linux/skmsg.h). ingress_msg holds the
 * messages its reader has yet to read; ingress_skb the skbs the kernel has
 * yet to move there. */
struct sk_psock___sockshim {
	struct list_head___sockshim ingress_msg;
	struct {
		__u32 qlen;
	} ingress_skb;
} __attribute__((preserve_access_index));

/* sk_user_data carries flag bits below the pointer (SK_USER_DATA_NOCOPY,
 * _BPF and _PSOCK in include/net/sock.h, since 5.13). */
#define SK_USER_DATA_PTRMASK (~7UL)

/* An unreferenced ("untrusted") kptr: a plain pointer the verifier lets
 * programs store in a map value, and read through with fault-safe loads. It
 * holds no reference: whoever stores one clears it when its socket closes.
 * TCP sockets are freed RCU-safely, so a pointer read in the moment its
 * socket closes still points to a socket: the worst outcome is one decision
 * made on a wrong figure, never a fault. The type tag needs clang >= 15 in
 * BTF. */
#define __kptr_untrusted __attribute__((btf_type_tag("kptr_untrusted")))

/* The psock of a socket in a sockmap, or 0. sk_user_data is a void pointer
 * in BTF, so everything behind it is read with bpf_probe_read_kernel
 * (bpf_core_read), which lockdown's integrity mode allows. */
static __always_inline unsigned long psock_of(struct sock *sk)
{
	return (unsigned long)sk->sk_user_data & SK_USER_DATA_PTRMASK;
}

/* Whether the socket's psock holds nothing for its reader: no message and no
 * skb waiting. Unknown (unreadable) counts as not empty. */
static __always_inline int psock_empty(struct sock *sk)
{
	struct sk_psock___sockshim *psock = (void *)psock_of(sk);
	void *next = 0;
	__u32 skbs = 1;

	if (!psock)
		return 1;
	if (bpf_core_read(&next, sizeof(next), &psock->ingress_msg.next))
		return 0;
	if (bpf_core_read(&skbs, sizeof(skbs), &psock->ingress_skb.qlen))
		return 0;
	return next == (void *)&psock->ingress_msg && skbs == 0;
}

/* The TCP socket of a sockops callback, or NULL (a request socket, or a
 * socket that is not TCP). */
static __always_inline struct tcp_sock *skops_tcp_sock(struct bpf_sock_ops *skops)
{
	return skops->sk ? bpf_skc_to_tcp_sock(skops->sk) : NULL;
}
