/* io.sockshim.ports=all: a group gets the port space a network namespace
 * would give it. A bind() of a nonzero port P of a protocol the group has
 * all of, on any local address, lands on a host port H taken from the
 * group's pool when P is first bound, and P keeps H for the group's life (a
 * restarted server gets H back): P -> H and H -> P go into the port maps,
 * where connect, sendmsg, getsockname, getpeername and recvmsg find them as
 * for listed ports (portmap.c). Port 0 stays the kernel's.
 *
 * These programs replace portmap.c's bind programs on an `all` group (they
 * remap its listed ports too). They need bpf_loop (5.17) and bpf_set_retval
 * (5.18), so they are an object of their own: a kernel that refuses it
 * still remaps listed ports. */
#include <asm-generic/errno.h>

#include "common.h"
#include "port_maps.h"
#include "host_ports.h"
#include "host_bound.h"

/* Where the last claim of each protocol ended (index 0 TCP, 1 UDP), as an
 * offset into the pool: the next scan starts after it, so a pool whose
 * first ports are held does not cost every bind a walk over them. Racing
 * binds may read the same cursor; their claims still exclude each other. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pool_cursor SEC(".maps");

/* One scan of a group's pool, shared with each step of bpf_loop. */
struct pool_scan {
	struct bpf_sock_addr *ctx; /* for the socket lookups */
	__u64 group_id;
	__u32 proto;
	__u32 low;    /* the pool's first port */
	__u32 size;   /* its number of ports */
	__u32 start;  /* the offset the scan starts at */
	__u32 offset; /* the offset of the port claimed */
	__u32 port;   /* the port claimed, 0 while none */
};

/* One candidate: claimed unless a group holds it or a socket outside
 * sockshim is bound to it (released again then, and skipped). Returns 1 to
 * end the scan. The modulo is by size, at least 1. */
static long try_pool_port(__u64 i, void *data)
{
	struct pool_scan *s = data;
	__u32 offset = (s->start + (__u32)i) % s->size;
	__u16 port = s->low + offset;

	if (claim_host_port(s->proto, port, s->group_id))
		return 0;
	if (bound_on_host(s->ctx, s->proto, port)) {
		release_host_port(s->proto, port);
		return 0;
	}
	s->offset = offset;
	s->port = port;
	return 1;
}

/* Claims a free port of cfg's pool for proto, or returns 0 when there is
 * none. A pool has up to 65535 ports: bpf_loop walks them, where a bounded
 * loop of that length would exceed what the verifier follows. */
static __always_inline __u16 claim_pool_port(struct bpf_sock_addr *ctx, struct group_config *cfg, __u32 proto)
{
	__u32 index = proto == IPPROTO_UDP;
	struct pool_scan s = {
		.ctx = ctx,
		.group_id = cfg->group_id,
		.proto = proto,
		.low = cfg->pool_low,
	};
	__u32 *cursor;

	if (!cfg->pool_low || cfg->pool_high < cfg->pool_low)
		return 0;
	s.size = (__u32)cfg->pool_high - cfg->pool_low + 1;
	cursor = bpf_map_lookup_elem(&pool_cursor, &index);
	if (!cursor)
		return 0;
	s.start = *cursor % s.size;
	bpf_loop(s.size, try_pool_port, &s, 0);
	if (s.port)
		*cursor = s.offset + 1;
	return s.port;
}

static __always_inline int has_all(struct group_config *cfg, __u32 proto)
{
	if (proto == IPPROTO_TCP)
		return cfg->flags & GROUP_PORTS_ALL_TCP;
	if (proto == IPPROTO_UDP)
		return cfg->flags & GROUP_PORTS_ALL_UDP;
	return 0;
}

/* Fails the bind() with EADDRINUSE: a bind program returning 0 alone makes
 * the kernel return EPERM; an error set with bpf_set_retval takes its place
 * (bpf_prog_run_array_cg keeps a retval that is already an error). */
static __always_inline int refuse_bind(void)
{
	bpf_set_retval(-EADDRINUSE);
	return 0;
}

/* P gets H: the reverse entry first, so that a socket bound to H is never
 * shown with the host port. Two sockets of the group binding P at once
 * (SO_REUSEPORT siblings on two CPUs) both miss P and claim a port each;
 * the first insert of P wins and the other gives its port back. Returns
 * P's host port, or 0 when the maps are full. */
static __always_inline __u16 map_port(struct port_key *virt, __u16 host)
{
	struct port_key rev = {.group_id = virt->group_id, .port = host, .proto = virt->proto};
	__u16 *won;

	if (bpf_map_update_elem(&host_to_virtual, &rev, &virt->port, BPF_NOEXIST))
		goto give_back;
	if (!bpf_map_update_elem(&virtual_to_host, virt, &host, BPF_NOEXIST))
		return host;
	bpf_map_delete_elem(&host_to_virtual, &rev);
give_back:
	release_host_port(virt->proto, host);
	won = bpf_map_lookup_elem(&virtual_to_host, virt);
	return won ? *won : 0;
}

static __always_inline int bind_any_port(struct bpf_sock_addr *ctx)
{
	struct group_config *cfg = group_of_attachment(GROUP_PORTS);
	struct port_key virt = {};
	__u16 *known, host;

	if (!cfg)
		return SOCK_ADDR_OK;
	virt.group_id = cfg->group_id;
	virt.proto = ctx->protocol;
	virt.port = bpf_ntohs((__u16)ctx->user_port);
	if (!virt.port)
		return SOCK_ADDR_OK;
	known = bpf_map_lookup_elem(&virtual_to_host, &virt);
	if (known) {
		host = *known;
	} else {
		/* A socket bound already gets EINVAL from the kernel: no
		 * port is claimed for it. */
		if (!has_all(cfg, ctx->protocol) || ctx->sk->src_port)
			return SOCK_ADDR_OK;
		host = claim_pool_port(ctx, cfg, ctx->protocol);
		if (!host)
			return refuse_bind();
		host = map_port(&virt, host);
		if (!host)
			return refuse_bind();
	}
	ctx->user_port = bpf_htons(host);
	return BIND_REMAPPED;
}

SEC("cgroup/bind4")
int ports_all_bind4(struct bpf_sock_addr *ctx) { return bind_any_port(ctx); }

SEC("cgroup/bind6")
int ports_all_bind6(struct bpf_sock_addr *ctx) { return bind_any_port(ctx); }
