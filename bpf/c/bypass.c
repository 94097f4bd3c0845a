/* Loopback TCP bypass: established TCP sockets of bypass groups whose peer is
 * on this host join one SOCKHASH keyed by their 4-tuple; each message sent on
 * such a socket is moved straight into the peer socket's receive queue. */
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

SEC("sockops")
int bypass_track_established(struct bpf_sock_ops *skops)
{
	struct sock_key key = {};

	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return SOCK_OPS_OK;
	if (skops->family != AF_INET && skops->family != AF_INET6)
		return SOCK_OPS_OK;

	if (!group_of_attachment(GROUP_BYPASS))
		return SOCK_OPS_OK;

	FILL_ADDRS(skops, &key.local, &key.remote);
	key.local_port = skops->local_port;
	key.remote_port = bpf_ntohl(skops->remote_port);

	/* Only connections between two addresses of this host: a socket that
	 * talks to another machine never joins the map. */
	if (!addr6_is_local(&key.remote))
		return SOCK_OPS_OK;

	/* A full map, or a socket the map refuses (an MPTCP subflow, a socket
	 * with another ULP), only means this socket keeps the normal path. */
	bpf_sock_hash_update(skops, &bypass_sockets, &key, BPF_ANY);
	return SOCK_OPS_OK;
}

/* Deepest cgroup level searched for the sender's group. */
#define MAX_CGROUP_DEPTH 16

/* The counters of the group sending: sk_msg runs in the sending task's
 * context, whose cgroup is the group's own or a descendant of it. Looking the
 * group up this way needs no per-socket state (an sk_storage written for
 * every connection cost 8 % of the connection rate). */
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

SEC("sk_msg")
int bypass_redirect_msg(struct sk_msg_md *msg)
{
	struct sock_key peer = {};
	struct redirect_counters *c;
	__u32 size = msg->size;

	/* The peer's key: its local side is our remote side. */
	FILL_ADDRS(msg, &peer.remote, &peer.local);
	peer.local_port = bpf_ntohl(msg->remote_port);
	peer.remote_port = msg->local_port;

	/* bpf_msg_redirect_hash returns SK_DROP when the peer is not in the
	 * map; the message must then take the normal path, so the verdict is
	 * SK_PASS whatever happened. Nothing is ever dropped here. */
	if (bpf_msg_redirect_hash(msg, &bypass_sockets, &peer, BPF_F_INGRESS) != SK_PASS)
		return SK_PASS;

	c = sender_counters();
	if (c) {
		c->messages++;
		c->bytes += size;
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
