package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// Concern is what a program does for a group; a group gets the programs of
// the concerns it asked for.
type concern int

const (
	concernBypass concern = iota
	// concernPorts: every group with ports (connect, getsockname,
	// getpeername).
	concernPorts
	// concernListedBind: the bind programs of a group with listed ports
	// only; concernAllBind: those of an `all` group (c/ports_all.c), which
	// remap its listed ports too.
	concernListedBind
	concernAllBind
	// concernUDPPorts: the hooks only UDP sockets run (unconnected
	// sendmsg and recvmsg), attached only to groups with UDP ports: each
	// attachment is a link to create and pin when a container starts.
	concernUDPPorts
)

// object is one embedded eBPF object. An optional one the kernel refuses
// takes away only what its programs do: the others still load.
type object struct {
	name string
	load func() (*ebpf.CollectionSpec, error)
	elf  []byte
	// unavailable names the directory among the pinned programs that says
	// the kernel refused this object ("" for a required object).
	unavailable string
	concern     concern // of its cgroup programs, for an optional object
}

// objects are loaded in this order; maps of the same name are one pinned
// map.
var objects = []object{
	{"bypass", loadBypass, _BypassBytes, "bypass-unavailable", concernBypass},
	{"portmap", loadPortmap, _PortmapBytes, "", 0},
	// bpf_loop (5.17) and bpf_set_retval (5.18): a kernel older than the
	// rest needs still remaps listed ports.
	{"portsall", loadPortsall, _PortsallBytes, "ports-all-unavailable", concernAllBind},
}

// optionalObject is the optional object whose cgroup programs are of
// concern c, if any.
func optionalObject(c concern) (object, bool) {
	for _, o := range objects {
		if o.unavailable != "" && o.concern == c {
			return o, true
		}
	}
	return object{}, false
}

// cgroupProgram is a program attached to each group's cgroup.
type cgroupProgram struct {
	name    string
	attach  ebpf.AttachType
	concern concern
}

// cgroupPrograms are attached to each group's cgroup, in this order. The
// attach types repeat the objects' sections, and a test checks them against
// the objects: a pinned program does not tell its attach type, and parsing
// the objects for it would add about half to the time a hook takes to attach.
var cgroupPrograms = []cgroupProgram{
	{"bypass_track_established", ebpf.AttachCGroupSockOps, concernBypass},
	{"portmap_bind4", ebpf.AttachCGroupInet4Bind, concernListedBind},
	{"portmap_bind6", ebpf.AttachCGroupInet6Bind, concernListedBind},
	{"ports_all_bind4", ebpf.AttachCGroupInet4Bind, concernAllBind},
	{"ports_all_bind6", ebpf.AttachCGroupInet6Bind, concernAllBind},
	{"portmap_connect4", ebpf.AttachCGroupInet4Connect, concernPorts},
	{"portmap_connect6", ebpf.AttachCGroupInet6Connect, concernPorts},
	{"portmap_getsockname4", ebpf.AttachCgroupInet4GetSockname, concernPorts},
	{"portmap_getsockname6", ebpf.AttachCgroupInet6GetSockname, concernPorts},
	{"portmap_getpeername4", ebpf.AttachCgroupInet4GetPeername, concernPorts},
	{"portmap_getpeername6", ebpf.AttachCgroupInet6GetPeername, concernPorts},
	{"portmap_sendmsg4", ebpf.AttachCGroupUDP4Sendmsg, concernUDPPorts},
	{"portmap_sendmsg6", ebpf.AttachCGroupUDP6Sendmsg, concernUDPPorts},
	{"portmap_recvmsg4", ebpf.AttachCGroupUDP4Recvmsg, concernUDPPorts},
	{"portmap_recvmsg6", ebpf.AttachCGroupUDP6Recvmsg, concernUDPPorts},
}

// sockhashPrograms are attached once to the shared socket map.
var sockhashPrograms = []struct {
	name   string
	attach ebpf.AttachType
}{
	{"bypass_redirect_msg", ebpf.AttachSkMsgVerdict},
	{"bypass_pass_skb", ebpf.AttachSkSKBStreamVerdict},
}

// Names of the maps userspace reads or writes.
const (
	mapGroupConfig   = "group_config"
	mapHostAddrs     = "host_addrs"
	mapSockets       = "bypass_sockets"
	mapCounters      = "bypass_counters"
	mapPeerRefs      = "bypass_peer_refs"
	mapListeners     = "bypass_listeners"
	mapScope         = "bypass_scope"
	mapVirtualToHost = "virtual_to_host"
	mapHostToVirtual = "host_to_virtual"
	mapHolders       = "host_port_holders"
)

// collectionSpecs parses the embedded objects, in the order of objects.
func collectionSpecs() ([]*ebpf.CollectionSpec, error) {
	var specs []*ebpf.CollectionSpec
	for _, o := range objects {
		spec, err := o.load()
		if err != nil {
			return nil, fmt.Errorf("parse embedded eBPF object %s: %w", o.name, err)
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// ProbeBypass loads the bypass programs and maps in this process, unpinned,
// and closes them: whether the running kernel accepts them as they are (its
// BTF, helpers and verifier). It attaches nothing.
func ProbeBypass() error { return probe(loadBypass) }

// ProbePortsAll does the same for the bind programs of io.sockshim.ports=all.
func ProbePortsAll() error { return probe(loadPortsall) }

func probe(load func() (*ebpf.CollectionSpec, error)) error {
	spec, err := load()
	if err != nil {
		return fmt.Errorf("parse embedded eBPF object: %w", err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return err
	}
	coll.Close()
	return nil
}
