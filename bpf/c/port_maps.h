/* The port maps: a group's virtual port P and the host port H behind it,
 * both ways. Userspace writes the entries of listed ports when it sets a
 * group up; the bind programs of an `all` group write the others when the
 * group first binds them (ports_all.c). */
#pragma once

#include "common.h"

#define SOCK_ADDR_OK 1

/* What a bind program returns when it moved the bind to a host port: allow
 * (bit 0) and BPF_RET_BIND_NO_CAP_NET_BIND_SERVICE (bit 1; the kernel
 * shifts it down into its flags, include/linux/bpf.h, 5.12), which skips
 * __inet_bind's CAP_NET_BIND_SERVICE check. That check looks at the port
 * after the rewrite, so a pool port (20000 and up) needs no capability
 * anyway; the flag lets a process without it bind a port below 1024 that
 * lands on a fixed host port below 1024 (80:80), or a pool set that low, as
 * a network namespace of its own with net.ipv4.ip_unprivileged_port_start=0
 * would. The verifier accepts 0 to 3 from bind4/bind6 programs only. */
#define BIND_REMAPPED 3

struct port_key {
	__u64 group_id;
	__u16 port;  /* host byte order */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 _pad[5];
};

/* (group, proto, virtual port) -> host port. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct port_key);
	__type(value, __u16);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} virtual_to_host SEC(".maps");

/* (group, proto, host port) -> virtual port. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct port_key);
	__type(value, __u16);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} host_to_virtual SEC(".maps");

/* Looks port (network order, as in user_port) up in map for the socket's
 * group; returns the translated port in network order, or 0. */
static __always_inline __u32 translate(void *map, struct group_config *cfg,
				       __u32 protocol, __u32 user_port)
{
	struct port_key key = {};
	__u16 *to;

	key.group_id = cfg->group_id;
	key.proto = protocol;
	key.port = bpf_ntohs((__u16)user_port);
	if (!key.port)
		return 0;
	to = bpf_map_lookup_elem(map, &key);
	if (!to)
		return 0;
	return bpf_htons(*to);
}
