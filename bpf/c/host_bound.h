/* Whether a socket outside sockshim holds a pool port on this host, for the
 * bind programs of an `all` group, which cannot bind a test socket as
 * userspace does (group/hostport.go).
 *
 * bpf_sk_lookup_tcp/udp, allowed in every cgroup sock_addr program (bind4
 * and bind6 included; the socket's own network namespace), find a socket as
 * a packet arriving for the address would: an established TCP socket by its
 * whole 4-tuple, else a listener on the address or its wildcard; a UDP
 * socket bound to the address or its wildcard and not connected to another
 * peer. Asked for 127.0.0.1 and ::1, they see what binds there and on
 * 0.0.0.0 and :: (a dual-stack :: socket also through 127.0.0.1). They do
 * not see:
 *  - a TCP socket bound but not listening: bind() alone enters only the bind
 *    hash, which no lookup searches;
 *  - TCP connections on the port without a listener (an outgoing one that
 *    bound the port, one whose listener closed, TIME_WAIT): the established
 *    lookup needs the peer's address and port;
 *  - a socket bound to another address of the host (10.0.0.5:H), which only
 *    its own address matches;
 *  - a connected UDP socket, which matches only its peer.
 * Such a port is given out anyway; the group's bind() then fails with
 * EADDRINUSE from the kernel's own check, and the port keeps that host port
 * for the group's life. */
#pragma once

#include "common.h"

static __always_inline struct bpf_sock *lookup_socket(struct bpf_sock_addr *ctx, __u32 proto,
						      struct bpf_sock_tuple *t, __u32 len)
{
	if (proto == IPPROTO_TCP)
		return bpf_sk_lookup_tcp(ctx, t, len, BPF_F_CURRENT_NETNS, 0);
	return bpf_sk_lookup_udp(ctx, t, len, BPF_F_CURRENT_NETNS, 0);
}

static __always_inline int bound_on_host(struct bpf_sock_addr *ctx, __u32 proto, __u16 port)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;

	t.ipv4.saddr = bpf_htonl(0x7f000001);
	t.ipv4.daddr = bpf_htonl(0x7f000001);
	t.ipv4.dport = bpf_htons(port);
	sk = lookup_socket(ctx, proto, &t, sizeof(t.ipv4));
	if (!sk) {
		__builtin_memset(&t, 0, sizeof(t));
		t.ipv6.saddr[3] = bpf_htonl(1);
		t.ipv6.daddr[3] = bpf_htonl(1);
		t.ipv6.dport = bpf_htons(port);
		sk = lookup_socket(ctx, proto, &t, sizeof(t.ipv6));
	}
	if (!sk)
		return 0;
	bpf_sk_release(sk);
	return 1;
}
