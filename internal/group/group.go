// Package group sets a group (a container, or a `sockshim run` process tree)
// up and tears it down: host port allocation, the kernel attachment and the
// record, kept consistent with each other.
package group

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/oci"
)

// Spec is what a group asks for.
type Spec struct {
	ID            string
	Kind          string // "run" or "container"
	Cgroup        string
	Bypass        bool
	BypassPorts   []uint16 // scope of the bypass; empty: every connection
	Ports         []oci.PortSpec
	Pool          Pool
	CreatedCgroup bool
}

// Setup allocates the host ports, attaches the treatment to the cgroup and
// writes the record, in that order under the state lock. On error nothing of
// the group is left behind.
func Setup(k *bpf.Kernel, store *records.Store, spec Spec) (*records.Record, error) {
	id, err := bpf.CgroupID(spec.Cgroup)
	if err != nil {
		return nil, err
	}
	unlock, err := store.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()

	if _, err := store.Read(spec.ID); err == nil {
		return nil, fmt.Errorf("%s is already set up (run `sockshim gc` if it is stale)", spec.ID)
	}
	mappings, err := allocate(store, spec)
	if err != nil {
		return nil, err
	}
	var warnings []string
	if spec.Bypass && !k.BypassAvailable() {
		// Degrade, do not refuse: the group starts on the normal path.
		spec.Bypass, spec.BypassPorts = false, nil
		warnings = append(warnings, "io.sockshim.bypass: "+bpf.ErrBypassUnavailable.Error()+"; using the normal path")
	}
	rec := &records.Record{
		ID:            spec.ID,
		Kind:          spec.Kind,
		Cgroup:        spec.Cgroup,
		CgroupID:      id,
		Bypass:        spec.Bypass,
		BypassPorts:   spec.BypassPorts,
		Ports:         mappings,
		CreatedCgroup: spec.CreatedCgroup,
		Warnings:      warnings,
		Created:       time.Now().UTC(),
	}
	// The record goes first so that a crash between the two leaves
	// something gc can find.
	if err := store.Write(rec); err != nil {
		return nil, err
	}
	g := bpf.Group{Name: spec.ID, Cgroup: spec.Cgroup, Bypass: spec.Bypass, BypassPorts: spec.BypassPorts, Ports: mappings}
	if err := k.AttachGroup(g); err != nil {
		store.Delete(spec.ID)
		return nil, err
	}
	return rec, nil
}

// Teardown detaches a group and removes its record. A group that is not (or
// no longer) set up is not an error.
func Teardown(k *bpf.Kernel, store *records.Store, id string) error {
	// Without a readable record the links still name the group's cgroup.
	var groupID uint64
	if rec, err := store.Read(id); err == nil {
		groupID = rec.CgroupID
	}
	if err := k.DetachGroup(id, groupID); err != nil {
		return fmt.Errorf("detach %s: %w", id, err)
	}
	return store.Delete(id)
}

// allocate turns the requested ports into mappings: fixed host ports are
// checked, the others taken from the pool, skipping ports that other groups
// hold or that are bound on the host.
func allocate(store *records.Store, spec Spec) ([]bpf.Mapping, error) {
	if len(spec.Ports) == 0 {
		return nil, nil
	}
	taken := map[string]string{} // "proto/port" -> holder
	all, err := store.List()
	if err != nil && len(all) == 0 && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, r := range all {
		for _, m := range r.Ports {
			taken[key(m.Proto, m.HostPort)] = r.ID
		}
	}
	var out []bpf.Mapping
	for _, p := range spec.Ports {
		if p.HostPort == 0 {
			continue
		}
		if holder, ok := taken[key(p.Proto, p.HostPort)]; ok {
			return nil, fmt.Errorf("host port %d/%s is already taken by %s", p.HostPort, p.Proto, holder)
		}
		if !hostPortFree(p.Proto, p.HostPort, false) {
			return nil, fmt.Errorf("host port %d/%s is already in use on this host", p.HostPort, p.Proto)
		}
		taken[key(p.Proto, p.HostPort)] = spec.ID
	}
	if err := spec.Pool.CheckEphemeral(); err != nil && needsPool(spec.Ports) {
		return nil, err
	}
	next := map[string]uint32{"tcp": uint32(spec.Pool.Low), "udp": uint32(spec.Pool.Low)}
	for _, p := range spec.Ports {
		h := p.HostPort
		if h == 0 {
			for ; next[p.Proto] <= uint32(spec.Pool.High); next[p.Proto]++ {
				c := uint16(next[p.Proto])
				if _, ok := taken[key(p.Proto, c)]; !ok && hostPortFree(p.Proto, c, true) {
					h = c
					break
				}
			}
			if h == 0 {
				return nil, fmt.Errorf("no free host port left in the pool %s for %d/%s", spec.Pool, p.Port, p.Proto)
			}
			taken[key(p.Proto, h)] = spec.ID
		}
		out = append(out, bpf.Mapping{Proto: p.Proto, Port: p.Port, HostPort: h})
	}
	return out, nil
}

func needsPool(ports []oci.PortSpec) bool {
	for _, p := range ports {
		if p.HostPort == 0 {
			return true
		}
	}
	return false
}

func key(proto string, port uint16) string { return fmt.Sprintf("%s/%d", proto, port) }

// Collect tears down groups whose cgroup is gone (or is another cgroup now)
// and pins that have no record, returning their ids.
func Collect(k *bpf.Kernel, store *records.Store) ([]string, error) {
	unlock, err := store.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	recs, listErr := store.List()
	known := map[string]bool{}
	var removed []string
	var errs []error
	for _, r := range recs {
		known[r.ID] = true
		if id, err := bpf.CgroupID(r.Cgroup); err == nil && id == r.CgroupID {
			continue // alive
		}
		if err := Teardown(k, store, r.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, r.ID)
	}
	names, err := k.Groups()
	if err != nil {
		errs = append(errs, err)
	}
	for _, name := range names {
		if known[name] {
			continue
		}
		if err := k.DetachGroup(name, 0); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(append(errs, listErr)...)
}
