/* Shared definitions for sockshim's eBPF programs.
 *
 * Only UAPI headers are used (linux/bpf.h and libbpf's helper headers), so no
 * vmlinux.h or BTF of the build host is needed.
 */
#pragma once

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define SOL_TCP 6 /* the level of bpf_{get,set}sockopt's TCP options */

/* Reads a context field where the read happens. Without the empty asm,
 * clang merges reads of different fields made on two branches (IPv4 or IPv6)
 * into one load through a computed pointer, which the verifier refuses:
 * "dereference of modified ctx ptr". */
#define CTX_READ(expr) ({ __u32 __v = (expr); asm volatile("" : "+r"(__v)); __v; })

/* Flags of a group (struct group_config.flags). */
#define GROUP_PORTS  (1u << 0) /* io.sockshim.ports: remap listed ports */
#define GROUP_BYPASS (1u << 1) /* io.sockshim.bypass: loopback TCP bypass */
#define GROUP_BYPASS_SCOPED (1u << 2) /* io.sockshim.bypass lists ports (scope.h) */
#define GROUP_PORTS_ALL_TCP (1u << 3) /* io.sockshim.ports=all or all/tcp (ports_all.c) */
#define GROUP_PORTS_ALL_UDP (1u << 4) /* io.sockshim.ports=all or all/udp (ports_all.c) */

/* Per-attachment configuration of a group. The key is the group's cgroup id;
 * because the key is a plain u64 the storage is shared by every program that
 * uses this map on the same cgroup (kernel >= 5.9), and programs running for
 * sockets of descendant cgroups see the storage of the ancestor they were
 * attached to: child cgroups get the same treatment without any lookup.
 * Userspace writes the value right after attaching; until then it is zero and
 * every program treats group_id 0 as "not configured, leave alone". */
struct group_config {
	__u64 group_id;
	__u32 flags;
	/* The pool an `all` group's bind programs take host ports from
	 * (ports_all.c), host byte order; zero for other groups. */
	__u16 pool_low;
	__u16 pool_high;
};

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_STORAGE);
	__type(key, __u64);
	__type(value, struct group_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} group_config SEC(".maps");

/* Addresses of this host other than loopback, written by userspace, in the
 * normalised 16-byte form of struct addr6 (IPv4 as ::ffff:a.b.c.d). */
struct addr6 {
	__u32 w[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct addr6);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} host_addrs SEC(".maps");

/* An IPv4 address (network order) in the IPv4-mapped IPv6 form, so that an
 * AF_INET socket and an AF_INET6 socket carrying IPv4 agree on keys. */
static __always_inline void addr6_from_ip4(struct addr6 *a, __u32 ip4)
{
	a->w[0] = 0;
	a->w[1] = 0;
	a->w[2] = bpf_htonl(0x0000ffff);
	a->w[3] = ip4;
}

static __always_inline int addr6_is_loopback(const struct addr6 *a)
{
	/* ::1 */
	if (a->w[0] == 0 && a->w[1] == 0 && a->w[2] == 0 && a->w[3] == bpf_htonl(1))
		return 1;
	/* ::ffff:127.0.0.0/104 */
	if (a->w[0] == 0 && a->w[1] == 0 && a->w[2] == bpf_htonl(0x0000ffff) &&
	    (bpf_ntohl(a->w[3]) >> 24) == 127)
		return 1;
	return 0;
}

/* Whether the address belongs to this host: loopback or a host address. */
static __always_inline int addr6_is_local(const struct addr6 *a)
{
	if (addr6_is_loopback(a))
		return 1;
	return bpf_map_lookup_elem(&host_addrs, a) != NULL;
}

/* The configuration of the group whose cgroup this program is attached to,
 * or NULL when it is not configured yet or lacks flag. The group comes from
 * the attachment, not from the socket: an MPTCP socket's bind and connect
 * run on a TCP subflow the kernel made, which inherits the cgroup but not
 * any per-socket state. */
static __always_inline struct group_config *group_of_attachment(__u32 flag)
{
	struct group_config *cfg = bpf_get_local_storage(&group_config, 0);

	if (!cfg->group_id || !(cfg->flags & flag))
		return NULL;
	return cfg;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
