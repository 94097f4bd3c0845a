package group

import (
	"errors"
	"fmt"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/records"
)

// allocate turns the requested ports into mappings for the group of cgroup
// id: fixed host ports are checked, the others taken from the pool,
// skipping ports that other groups hold or that are bound on the host. Each
// host port is claimed in the kernel (bpf.Kernel.ClaimHostPort), where the
// bind programs of `all` groups claim theirs, so the kernel's claims tell
// which ports are held; the records are read only to name a holder in an
// error (reading every record took 26 µs a group: 26 ms a prestart beside
// 1,000 containers). On error no claim is left.
func allocate(k *bpf.Kernel, store *records.Store, id uint64, want []ports.Mapping, all ports.All, pool Pool) (out []ports.Mapping, err error) {
	if len(want) == 0 {
		if all.Any() {
			return nil, pool.CheckEphemeral()
		}
		return nil, nil
	}
	h := holders{k: k, store: store, id: id}
	defer func() {
		if err != nil {
			err = errors.Join(err, h.releaseAll())
		}
	}()
	for _, p := range want {
		if p.HostPort == 0 {
			continue
		}
		if err := h.claimFixed(p.Proto, p.HostPort); err != nil {
			return nil, err
		}
	}
	if err := pool.CheckEphemeral(); err != nil && (needsPool(want) || all.Any()) {
		return nil, err
	}
	next := map[string]uint32{"tcp": uint32(pool.Low), "udp": uint32(pool.Low)}
	for _, p := range want {
		host := p.HostPort
		for ; host == 0 && next[p.Proto] <= uint32(pool.High); next[p.Proto]++ {
			c := uint16(next[p.Proto])
			ok, err := h.claimFromPool(p.Proto, c)
			if err != nil {
				return nil, err
			}
			if ok {
				host = c
			}
		}
		if host == 0 {
			return nil, fmt.Errorf("no free host port left in the pool %s for %d/%s", pool, p.Port, p.Proto)
		}
		out = append(out, ports.Mapping{Proto: p.Proto, Port: p.Port, HostPort: host})
	}
	return out, nil
}

// holders is one allocation's claims, and which host ports other groups
// held once a pool port it tried was held.
type holders struct {
	k       *bpf.Kernel
	store   *records.Store
	id      uint64
	held    map[bpf.HostPort]uint64 // host port -> the holder's group id; nil until read
	claimed []bpf.HostPort
}

// claimFixed claims a fixed host port, or says who holds it.
func (h *holders) claimFixed(proto string, port uint16) error {
	holder, err := h.k.ClaimHostPort(proto, port, h.id)
	if err != nil {
		return err
	}
	if holder != h.id {
		return fmt.Errorf("host port %d/%s is already taken by %s", port, proto, h.name(holder))
	}
	h.claimed = append(h.claimed, bpf.HostPort{Proto: proto, Port: port})
	if !hostPortFree(proto, port, false) {
		return fmt.Errorf("host port %d/%s is already in use on this host", port, proto)
	}
	return nil
}

// claimFromPool claims a pool port unless a group holds it or it is bound
// on the host. On a quiet host the first port tried is free; once one is
// held, the pool is likely taken from its start by other containers, and
// all the claims are read at once (a batch a system call) rather than each
// port's tried (two).
func (h *holders) claimFromPool(proto string, port uint16) (bool, error) {
	if holder, ok := h.held[bpf.HostPort{Proto: proto, Port: port}]; ok && holder != h.id {
		return false, nil
	}
	holder, err := h.k.ClaimHostPort(proto, port, h.id)
	if err != nil {
		return false, err
	}
	if holder != h.id {
		if h.held == nil {
			if h.held, err = h.k.Holders(); err != nil {
				return false, err
			}
		}
		return false, nil
	}
	if !hostPortFree(proto, port, true) {
		return false, h.k.ReleaseHostPort(proto, port, h.id)
	}
	h.claimed = append(h.claimed, bpf.HostPort{Proto: proto, Port: port})
	return true, nil
}

func (h *holders) releaseAll() error {
	var errs []error
	for _, p := range h.claimed {
		errs = append(errs, h.k.ReleaseHostPort(p.Proto, p.Port, h.id))
	}
	return errors.Join(errs...)
}

// name is the record id of the group of cgroup id holder.
func (h *holders) name(holder uint64) string {
	recs, _ := h.store.List() // the readable records are enough to name one
	for _, r := range recs {
		if r.CgroupID == holder {
			return r.ID
		}
	}
	return fmt.Sprintf("another group (cgroup id %d)", holder)
}

func needsPool(ports []ports.Mapping) bool {
	for _, p := range ports {
		if p.HostPort == 0 {
			return true
		}
	}
	return false
}
