/* Loopback TCP bypass: established TCP sockets of bypass groups whose peer is
 * on this host join one SOCKHASH keyed by their 4-tuple; each message sent on
 * such a socket is moved straight into the peer socket's receive queue,
 * within the flow-control bound of normal_path.h. */
#include "common.h"

#define SOCK_OPS_OK 1

/* A socket's 4-tuple as seen from that socket, addresses normalised to the
 * 16-byte form, ports in host byte order. The peer's key is the same tuple
 * with local and remote swapped. */
struct sock_key {
	struct addr6 local;
	struct addr6 remote;
	__u32 local_port;
	__u32 remote_port;
};

/* The key of the socket at the other end of key's connection. */
static __always_inline struct sock_key peer_key(const struct sock_key *key)
{
	struct sock_key peer = {
		.local = key->remote,
		.remote = key->local,
		.local_port = key->remote_port,
		.remote_port = key->local_port,
	};

	return peer;
}

#include "normal_path.h"
#include "closed_peer.h"
#include "listeners.h"
#include "scope.h"
#include "small_buffers.h"

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 131072);
	__type(key, struct sock_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bypass_sockets SEC(".maps");

struct redirect_counters {
	__u64 messages;
	__u64 bytes;
	__u64 normal_path; /* switches to the normal path (normal_path.h) */
	__u64 left_map;    /* members that left the map (leave.h) */
};

/* Per group (key: group id, the group's cgroup id), per CPU: what went
 * through the redirect. Userspace creates the entry when it sets a group up
 * and deletes it when the group goes, so the programs never add keys. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct redirect_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bypass_counters SEC(".maps");

#include "leave.h"

/* Both contexts give remote_port in network order in the upper 16 bits of
 * the u32 on little-endian hosts (the kernel shifts it) and local_port in host
 * order, so bpf_ntohl() brings remote_port to host order in both. */
#define FILL_ADDRS(ctx, local, remote)                                          \
	do {                                                                    \
		if (CTX_READ((ctx)->family) == AF_INET) {                       \
			addr6_from_ip4(local, CTX_READ((ctx)->local_ip4));      \
			addr6_from_ip4(remote, CTX_READ((ctx)->remote_ip4));    \
		} else {                                                        \
			(local)->w[0] = CTX_READ((ctx)->local_ip6[0]);          \
			(local)->w[1] = CTX_READ((ctx)->local_ip6[1]);          \
			(local)->w[2] = CTX_READ((ctx)->local_ip6[2]);          \
			(local)->w[3] = CTX_READ((ctx)->local_ip6[3]);          \
			(remote)->w[0] = CTX_READ((ctx)->remote_ip6[0]);        \
			(remote)->w[1] = CTX_READ((ctx)->remote_ip6[1]);        \
			(remote)->w[2] = CTX_READ((ctx)->remote_ip6[2]);        \
			(remote)->w[3] = CTX_READ((ctx)->remote_ip6[3]);        \
		}                                                               \
	} while (0)

/* The 4-tuple of the socket of skops, as the socket sees it. */
static __always_inline void skops_key(struct bpf_sock_ops *skops, struct sock_key *key)
{
	FILL_ADDRS(skops, &key->local, &key->remote);
	key->local_port = skops->local_port;
	key->remote_port = bpf_ntohl(skops->remote_port);
}

SEC("sockops")
int bypass_track_established(struct bpf_sock_ops *skops)
{
	struct peer_ref *client_ref = NULL;
	struct group_config *cfg;
	struct sock_key key = {};

	if (skops->family != AF_INET && skops->family != AF_INET6)
		return SOCK_OPS_OK;
	if (skops->op == BPF_SOCK_OPS_TCP_LISTEN_CB) {
		struct listener_key lkey = {.port = skops->local_port};

		cfg = group_of_attachment(GROUP_BYPASS);
		if (!cfg || !listener_in_scope(cfg, lkey.port))
			return SOCK_OPS_OK;
		FILL_ADDRS(skops, &lkey.addr, &key.remote);
		listener_opened(skops, &lkey, cfg->group_id);
		return SOCK_OPS_OK;
	}
	if (skops->op == BPF_SOCK_OPS_HDR_OPT_LEN_CB) {
		/* Asked for by record_member only. */
		struct tcp_sock *tp = skops_tcp_sock(skops);

		cfg = group_of_attachment(GROUP_BYPASS);
		if (!cfg || !tp)
			return SOCK_OPS_OK;
		skops_key(skops, &key);
		if (leave_if_misread(skops, tp, &key, cfg))
			tune_normal_path(skops, tp);
		return SOCK_OPS_OK;
	}
	if (skops->op == BPF_SOCK_OPS_STATE_CB || skops->op == BPF_SOCK_OPS_PARSE_HDR_OPT_CB) {
		/* Asked for by listener_opened and record_member only. */
		skops_key(skops, &key);
		if (skops->op == BPF_SOCK_OPS_STATE_CB && skops->args[0] == BPF_TCP_LISTEN) {
			if (skops->args[1] == BPF_TCP_CLOSE) {
				struct listener_key lkey = {.addr = key.local, .port = key.local_port};

				listener_closed(skops, &lkey);
			}
		} else if (skops->op == BPF_SOCK_OPS_PARSE_HDR_OPT_CB) {
			watch_peer_window(skops, &key);
		} else if (skops->args[1] == BPF_TCP_FIN_WAIT1 || skops->args[1] == BPF_TCP_LAST_ACK) {
			/* See the probe cap in closed_peer.h. */
			uncap_probes(skops);
		} else if (skops->args[1] == BPF_TCP_CLOSE) {
			struct sock_key peer = peer_key(&key);

			tell_peer_closed(&peer);
			bpf_map_delete_elem(&bypass_peer_refs, &key);
		}
		return SOCK_OPS_OK;
	}
	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return SOCK_OPS_OK;

	cfg = group_of_attachment(GROUP_BYPASS);
	if (!cfg)
		return SOCK_OPS_OK;

	skops_key(skops, &key);

	/* Only connections between two addresses of this host: a socket that
	 * talks to another machine never joins the map. */
	if (!addr6_is_local(&key.remote))
		return SOCK_OPS_OK;

	/* Only connections whose other end is a bypass group's too
	 * (listeners.h), only sockets the sockmap receive path reads as TCP
	 * would (read_guard.h), and none with a small receive buffer set at
	 * either end (small_buffers.h). */
	if (skops->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB) {
		struct tcp_sock *tp = skops_tcp_sock(skops);

		if (!tp || !file_reads_like_tcp((void *)tp) || rcvbuf_set_small((void *)tp) ||
		    !listener_accepts_bypass(&key.remote, key.remote_port))
			return SOCK_OPS_OK;
	} else {
		struct sock_key client = peer_key(&key);

		client_ref = bpf_map_lookup_elem(&bypass_peer_refs, &client);
		if (!client_ref)
			return SOCK_OPS_OK;
		if (!listener_accepts_bypass(&key.local, key.local_port)) {
			/* The client joined on a hint this end does not
			 * confirm (the listener's file, or its buffer set
			 * small after the client joined: small_buffers.h):
			 * it leaves (leave.h). */
			client_ref->peer_left = 1;
			return SOCK_OPS_OK;
		}
	}

	/* A full map, or a socket the map refuses (an MPTCP subflow, a socket
	 * with another ULP), only means this socket keeps the normal path: its
	 * peer finds no record and sends by the normal path too, and a client
	 * that joined leaves. */
	if (bpf_sock_hash_update(skops, &bypass_sockets, &key, BPF_ANY)) {
		if (client_ref)
			client_ref->peer_left = 1;
		return SOCK_OPS_OK;
	}
	if (!record_member(skops, &key, cfg->group_id)) {
		/* No record (the record map full, or no memory for one): a
		 * member its peer cannot find and that no callback would make
		 * leave, while the sockmap receive path reads it (read_guard.h).
		 * Off the map again, and its client with it. */
		bpf_map_delete_elem(&bypass_sockets, &key);
		if (client_ref)
			client_ref->peer_left = 1;
	}
	return SOCK_OPS_OK;
}

/* Deepest cgroup level searched for the sender's group. */
#define MAX_CGROUP_DEPTH 16

/* The counters of the group sending: sk_msg runs in the sending task's
 * context, whose cgroup is the group's own or a descendant of it. Looking the
 * group up this way needs no per-socket state (an sk_storage written at
 * every connection would slow each connection's set-up). */
static __always_inline struct redirect_counters *sender_counters(void)
{
	struct redirect_counters *c;
	__u64 id = bpf_get_current_cgroup_id();

	c = bpf_map_lookup_elem(&bypass_counters, &id);
	if (c)
		return c;
	for (int level = 1; level <= MAX_CGROUP_DEPTH; level++) {
		id = bpf_get_current_ancestor_cgroup_id(level);
		if (!id)
			break; /* deeper than the sender's own cgroup */
		c = bpf_map_lookup_elem(&bypass_counters, &id);
		if (c)
			return c;
	}
	return NULL;
}

static __always_inline void count_redirect(__u32 size)
{
	struct redirect_counters *c = sender_counters();

	if (c) {
		c->messages++;
		c->bytes += size;
	}
}

/* The least room on the peer's queue (normal_path.h) worth splitting a
 * message for. */
#define REDIRECT_MIN_BYTES (16 << 10)

SEC("sk_msg")
int bypass_redirect_msg(struct sk_msg_md *msg)
{
	struct redirect_counters *c;
	struct sock_key peer = {};
	struct tcp_sock *sender, *peer_sk;
	__u32 size = msg->size, room;
	__u8 *normal;

	/* Every verdict here is SK_PASS: a message that is not redirected takes
	 * the normal path. Nothing is ever dropped. */
	if (!msg->sk)
		return SK_PASS;
	sender = bpf_skc_to_tcp_sock(msg->sk);
	if (!sender)
		return SK_PASS;

	/* The peer's key: its local side is our remote side. */
	FILL_ADDRS(msg, &peer.remote, &peer.local);
	peer.local_port = bpf_ntohl(msg->remote_port);
	peer.remote_port = msg->local_port;

	normal = bpf_sk_storage_get(&bypass_normal_path, msg->sk, 0, 0);
	peer_sk = peer_socket(&peer);
	/* Both ends must still read the non-blocking way (read_guard.h): the
	 * peer, or its bytes would meet the sockmap receive path, and the
	 * sender, whose normal-path sends make it leave the map (leave.h). An
	 * accepted peer has no file until accept(): the normal path until then. */
	room = peer_sk ? peer_room(peer_sk) : 0;
	if (room && file_reads_like_tcp((void *)peer_sk) && file_reads_like_tcp((void *)sender) &&
	    (!normal || !(*normal & ON_NORMAL_PATH) || normal_path_drained(sender, peer_sk))) {
		/* A message larger than the room is split: its first room
		 * bytes are redirected, and the program runs again for the
		 * rest. A sliver of room is not worth a redirect. */
		if (size > room) {
			if (room < REDIRECT_MIN_BYTES)
				goto normal_path;
			bpf_msg_apply_bytes(msg, room);
			size = room;
		}
		/* SK_DROP when the peer is not in the map (it may have left
		 * since its record was read). */
		if (bpf_msg_redirect_hash(msg, &bypass_sockets, &peer, BPF_F_INGRESS) == SK_PASS) {
			if (normal)
				*normal &= ~ON_NORMAL_PATH;
			count_redirect(size);
			return SK_PASS;
		}
	}
normal_path:

	/* The normal path: mark the socket first, so that no later message is
	 * redirected past this one before it has drained. */
	if (!normal)
		normal = bpf_sk_storage_get(&bypass_normal_path, msg->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!normal) {
		/* No memory for the mark. Sending by the normal path unmarked
		 * could let a later redirect overtake this message, so redirect
		 * it if the peer is in the map at all, over the bound (the next
		 * message tries to mark again). If it is not, nothing was
		 * redirected to it yet and the message goes unmarked: only a
		 * peer that joins the map later, at connection start, could then
		 * be overtaken. */
		if (bpf_msg_redirect_hash(msg, &bypass_sockets, &peer, BPF_F_INGRESS) == SK_PASS)
			count_redirect(size);
		return SK_PASS;
	}
	if (!(*normal & ON_NORMAL_PATH)) {
		*normal |= ON_NORMAL_PATH;
		if (peer_sk && (c = sender_counters()))
			c->normal_path++;
	}
	return SK_PASS;
}

/* A verdict that passes every skb. Attached to bypass_sockets only so that
 * bytes a member receives by the normal path (its peer not redirected) are
 * queued where ioctl(FIONREAD) and the redirected bytes are: without any
 * SK_SKB verdict, kernel 6.18.44 reports FIONREAD 0 for them. It also keeps
 * the two kinds of bytes in one ordered queue. */
SEC("sk_skb/stream_verdict")
int bypass_pass_skb(struct __sk_buff *skb)
{
	return SK_PASS;
}
