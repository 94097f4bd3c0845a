/* Which sockets join the bypass map: only both ends of a connection between
 * two bypass groups.
 *
 * A member receives everything through its psock, also bytes from a peer
 * that cannot be redirected, and such a member differs from plain TCP where
 * a plain peer can see it: closed with unread bytes, it sends FIN instead of
 * RST (closed_peer.h), and a plain sender blocked on its zero window waits
 * for tcp_fin_timeout. Leaving such connections out of the map keeps them
 * plain TCP.
 *
 * The server side knows its client: the client joined at
 * ACTIVE_ESTABLISHED, before its ACK that makes the server's socket
 * (PASSIVE_ESTABLISHED), so the server joins if the client has a record. The
 * client cannot see its server's socket yet, only whether a listening socket
 * of a bypass group has the address and port it connected to, which this map
 * records, with the listener itself: its file tells whether the sockets it
 * accepts are likely to read the non-blocking way (read_guard.h). */
#pragma once

#include "common.h"
#include "read_guard.h"
#include "small_buffers.h"

struct listener_key {
	struct addr6 addr; /* as bound: zero (either form) for any address */
	__u32 port;        /* host byte order */
};

struct listener_count {
	__u32 sockets; /* listening sockets of bypass groups on the key */
	__u32 _pad;
	__u64 group_id; /* the group that created the entry, for clean-up on detach */
	/* The listening socket that opened last, and its cookie: cleared when
	 * that socket closes (the kptr holds no reference). With SO_REUSEPORT
	 * siblings on the key, their clients then keep the normal path until
	 * one of them listens again. */
	struct tcp_sock __kptr_untrusted *sk;
	__u64 cookie;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct listener_key);
	__type(value, struct listener_count);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bypass_listeners SEC(".maps");

/* A bypass group's socket started listening on key. It asks for its state
 * changes, so that the entry goes when it closes. A full map only means the
 * clients of this listener keep the normal path. */
static __always_inline void listener_opened(struct bpf_sock_ops *skops, struct listener_key *key, __u64 group_id)
{
	struct listener_count first = {.sockets = 1, .group_id = group_id}, *c;
	struct tcp_sock *tp = skops_tcp_sock(skops);

	if (!tp)
		return;
	c = bpf_map_lookup_elem(&bypass_listeners, key);
	if (c)
		__sync_fetch_and_add(&c->sockets, 1);
	else if (bpf_map_update_elem(&bypass_listeners, key, &first, BPF_NOEXIST))
		return;
	c = bpf_map_lookup_elem(&bypass_listeners, key);
	if (!c)
		return;
	c->sk = tp;
	c->cookie = bpf_get_socket_cookie(skops);
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

/* The listening socket on key closed. Should a socket open on the same key
 * between the count reaching zero and the delete, its clients keep the
 * normal path: never a wrong redirect. */
static __always_inline void listener_closed(struct bpf_sock_ops *skops, struct listener_key *key)
{
	struct listener_count *c = bpf_map_lookup_elem(&bypass_listeners, key);

	if (!c)
		return;
	if (c->cookie == bpf_get_socket_cookie(skops))
		c->sk = NULL;
	/* The atomic add without fetch: fetching needs BPF ISA v3. */
	__sync_fetch_and_add(&c->sockets, -1);
	if (c->sockets == 0)
		bpf_map_delete_elem(&bypass_listeners, key);
}

/* The entry of a listening socket of a bypass group on addr and port, bound
 * to that address or to any address (0.0.0.0 or ::, the latter taking IPv4
 * too unless IPV6_V6ONLY, which is not told apart here), or NULL. */
static __always_inline struct listener_count *bypass_listener(const struct addr6 *addr, __u32 port)
{
	struct listener_key key = {.addr = *addr, .port = port};
	struct listener_count *c;

	c = bpf_map_lookup_elem(&bypass_listeners, &key);
	if (c)
		return c;
	if (addr->w[0] == 0 && addr->w[1] == 0 && addr->w[2] == bpf_htonl(0x0000ffff)) {
		addr6_from_ip4(&key.addr, 0);
		c = bpf_map_lookup_elem(&bypass_listeners, &key);
		if (c)
			return c;
	}
	key.addr = (struct addr6){};
	return bpf_map_lookup_elem(&bypass_listeners, &key);
}

/* Whether a bypass group listens on addr and port with a socket whose
 * accepted connections are likely to read the non-blocking way and have no
 * small receive buffer set (small_buffers.h). */
static __always_inline int listener_accepts_bypass(const struct addr6 *addr, __u32 port)
{
	struct listener_count *c = bypass_listener(addr, port);
	struct tcp_sock *tp;

	if (!c)
		return 0;
	tp = c->sk;
	return tp && file_reads_like_tcp((void *)tp) && !rcvbuf_set_small((void *)tp);
}
