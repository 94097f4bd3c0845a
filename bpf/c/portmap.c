/* Port remap: a group's virtual port P is really its host port H. bind() of P
 * lands on H; connect()/sendmsg() to P on a local address go to H;
 * getsockname(), getpeername() and recvmsg() show P where the kernel has H. */
#include "common.h"
#include "port_maps.h"
#include "host_ports.h" /* created with the port maps: userspace claims listed ports there */

/* The verifier allows 4-byte reads of user_ip6 only word by word. */
static __always_inline void user_addr6(struct bpf_sock_addr *ctx, struct addr6 *a)
{
	a->w[0] = CTX_READ(ctx->user_ip6[0]);
	a->w[1] = CTX_READ(ctx->user_ip6[1]);
	a->w[2] = CTX_READ(ctx->user_ip6[2]);
	a->w[3] = CTX_READ(ctx->user_ip6[3]);
}

/* bind: a listed P on any address -> H. (The bind programs of an `all`
 * group are in ports_all.c.) */
static __always_inline int do_bind(struct bpf_sock_addr *ctx)
{
	struct group_config *cfg = group_of_attachment(GROUP_PORTS);
	__u32 port;

	if (!cfg)
		return SOCK_ADDR_OK;
	port = translate(&virtual_to_host, cfg, ctx->protocol, ctx->user_port);
	if (!port)
		return SOCK_ADDR_OK;
	ctx->user_port = port;
	return BIND_REMAPPED;
}

SEC("cgroup/bind4")
int portmap_bind4(struct bpf_sock_addr *ctx) { return do_bind(ctx); }

SEC("cgroup/bind6")
int portmap_bind6(struct bpf_sock_addr *ctx) { return do_bind(ctx); }

/* getsockname: our own H -> P. The local address is ours by definition. */
static __always_inline int do_local_name(struct bpf_sock_addr *ctx)
{
	struct group_config *cfg = group_of_attachment(GROUP_PORTS);
	__u32 port;

	if (!cfg)
		return SOCK_ADDR_OK;
	port = translate(&host_to_virtual, cfg, ctx->protocol, ctx->user_port);
	if (port)
		ctx->user_port = port;
	return SOCK_ADDR_OK;
}

SEC("cgroup/getsockname4")
int portmap_getsockname4(struct bpf_sock_addr *ctx) { return do_local_name(ctx); }

SEC("cgroup/getsockname6")
int portmap_getsockname6(struct bpf_sock_addr *ctx) { return do_local_name(ctx); }

/* Translate the peer address in ctx through map when it is local. Used for
 * connect/sendmsg (P -> H) and getpeername/recvmsg (H -> P). */
static __always_inline int do_peer4(struct bpf_sock_addr *ctx, void *map)
{
	struct group_config *cfg = group_of_attachment(GROUP_PORTS);
	struct addr6 a;
	__u32 port;

	if (!cfg)
		return SOCK_ADDR_OK;
	addr6_from_ip4(&a, ctx->user_ip4);
	if (!addr6_is_local(&a))
		return SOCK_ADDR_OK;
	port = translate(map, cfg, ctx->protocol, ctx->user_port);
	if (port)
		ctx->user_port = port;
	return SOCK_ADDR_OK;
}

static __always_inline int do_peer6(struct bpf_sock_addr *ctx, void *map)
{
	struct group_config *cfg = group_of_attachment(GROUP_PORTS);
	struct addr6 a;
	__u32 port;

	if (!cfg)
		return SOCK_ADDR_OK;
	user_addr6(ctx, &a);
	if (!addr6_is_local(&a))
		return SOCK_ADDR_OK;
	port = translate(map, cfg, ctx->protocol, ctx->user_port);
	if (port)
		ctx->user_port = port;
	return SOCK_ADDR_OK;
}

SEC("cgroup/connect4")
int portmap_connect4(struct bpf_sock_addr *ctx) { return do_peer4(ctx, &virtual_to_host); }

SEC("cgroup/connect6")
int portmap_connect6(struct bpf_sock_addr *ctx) { return do_peer6(ctx, &virtual_to_host); }

SEC("cgroup/sendmsg4")
int portmap_sendmsg4(struct bpf_sock_addr *ctx) { return do_peer4(ctx, &virtual_to_host); }

SEC("cgroup/sendmsg6")
int portmap_sendmsg6(struct bpf_sock_addr *ctx) { return do_peer6(ctx, &virtual_to_host); }

SEC("cgroup/getpeername4")
int portmap_getpeername4(struct bpf_sock_addr *ctx) { return do_peer4(ctx, &host_to_virtual); }

SEC("cgroup/getpeername6")
int portmap_getpeername6(struct bpf_sock_addr *ctx) { return do_peer6(ctx, &host_to_virtual); }

SEC("cgroup/recvmsg4")
int portmap_recvmsg4(struct bpf_sock_addr *ctx) { return do_peer4(ctx, &host_to_virtual); }

SEC("cgroup/recvmsg6")
int portmap_recvmsg6(struct bpf_sock_addr *ctx) { return do_peer6(ctx, &host_to_virtual); }
