/* The port-list form of io.sockshim.bypass: only the connections accepted by
 * the group's listeners on the listed ports take part (and the group's own
 * outgoing ones, which the scope does not touch). Userspace lists the host
 * side of each port: the host port of a remapped one, the port itself
 * otherwise. A port an `all` group's bind programs remapped has no host
 * port yet when userspace lists it: its listener is looked up by its
 * virtual port. A listener outside the scope is not recorded in
 * bypass_listeners, so its clients, and then its accepted sockets, keep the
 * normal path. */
#pragma once

#include "common.h"
#include "port_maps.h"

struct scope_key {
	__u64 group_id;
	__u32 port; /* host byte order, as the listener is bound */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct scope_key);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bypass_scope SEC(".maps");

/* Whether a listener of the group on (host) port takes part in the bypass. */
static __always_inline int listener_in_scope(struct group_config *cfg, __u32 port)
{
	struct scope_key key = {.group_id = cfg->group_id, .port = port};
	struct port_key host = {.group_id = cfg->group_id, .port = port, .proto = IPPROTO_TCP};
	__u16 *virt;

	if (!(cfg->flags & GROUP_BYPASS_SCOPED))
		return 1;
	if (bpf_map_lookup_elem(&bypass_scope, &key))
		return 1;
	if (!(cfg->flags & GROUP_PORTS_ALL_TCP))
		return 0;
	virt = bpf_map_lookup_elem(&host_to_virtual, &host);
	if (!virt)
		return 0;
	key.port = *virt;
	return bpf_map_lookup_elem(&bypass_scope, &key) != NULL;
}
