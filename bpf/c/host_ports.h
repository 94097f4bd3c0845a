/* The host ports sockshim's groups hold: every one, listed, fixed or taken
 * at bind time by an `all` group, with the group that holds it.
 *
 * A claim is an insert with BPF_NOEXIST, atomic across CPUs, groups and
 * userspace (which claims a group's listed and fixed ports here when it sets
 * the group up): no two groups ever hold one port. A pool's free ports are
 * its range minus this map (ports_all.c scans for one). A group's entries go
 * when it is torn down, by userspace, which finds them by their value.
 *
 * Why not a BPF_MAP_TYPE_QUEUE of free ports, which pops atomically: userspace
 * cannot take a given port out of a queue (a listed or fixed port it gives a
 * group), so the queue would hand out ports groups hold, and putting ports
 * back when a group goes would duplicate those still queued. Why not a bitmap
 * under bpf_spin_lock: userspace reads and writes a locked value in two
 * syscalls (BPF_F_LOCK takes the lock for each alone), so its read-modify-
 * write of a bit would race the programs'. Here a stale or repeated
 * candidate costs one failed insert, never a port given twice. */
#pragma once

#include "common.h"

struct host_port {
	__u16 port; /* host byte order */
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 _pad;
};

/* (proto, host port) -> the holding group's id (its cgroup id). Big enough
 * for every port of both protocols, so a claim never fails for room. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, struct host_port);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} host_port_holders SEC(".maps");

/* Claims port for group_id; 0 on success. A lookup first: most candidates a
 * scan meets in a busy pool are held, and a lookup takes no bucket lock. */
static __always_inline int claim_host_port(__u32 proto, __u16 port, __u64 group_id)
{
	struct host_port key = {.port = port, .proto = proto};

	if (bpf_map_lookup_elem(&host_port_holders, &key))
		return -1;
	return bpf_map_update_elem(&host_port_holders, &key, &group_id, BPF_NOEXIST);
}

static __always_inline void release_host_port(__u32 proto, __u16 port)
{
	struct host_port key = {.port = port, .proto = proto};

	bpf_map_delete_elem(&host_port_holders, &key);
}
