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
	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/records"
)

// ErrAlreadySetUp is returned by Setup for a group id that has a record.
var ErrAlreadySetUp = errors.New("is already set up (run `sockshim gc` if it is stale)")

// Setup allocates the host ports of want (a record as asked for: its ports'
// host port 0 means one from pool), attaches the treatment to want.Cgroup
// and writes the record, in that order under the state lock, and returns
// the record as set up. On error nothing of the group is left behind.
func Setup(k *bpf.Kernel, store *records.Store, want records.Record, pool Pool) (*records.Record, error) {
	id, err := bpf.CgroupID(want.Cgroup)
	if err != nil {
		return nil, err
	}
	unlock, err := store.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()

	if _, err := store.Read(want.ID); err == nil {
		return nil, fmt.Errorf("%s %w", want.ID, ErrAlreadySetUp)
	}
	rec := want
	if rec.Ports, err = allocate(store, want.ID, want.Ports, pool); err != nil {
		return nil, err
	}
	if rec.Bypass && !k.BypassAvailable() {
		// Degrade, do not refuse: the group starts on the normal path.
		rec.Bypass, rec.BypassPorts = false, nil
		rec.Warnings = append(rec.Warnings, "io.sockshim.bypass: "+bpf.ErrBypassUnavailable.Error()+"; using the normal path")
	}
	rec.CgroupID, rec.Created = id, time.Now().UTC()
	// The record goes first so that a crash between the two leaves
	// something gc can find.
	if err := store.Write(&rec); err != nil {
		return nil, err
	}
	if err := k.AttachGroup(attachment(&rec)); err != nil {
		return nil, errors.Join(err, store.Delete(rec.ID))
	}
	return &rec, nil
}

// attachment is what the kernel needs of a record.
func attachment(r *records.Record) bpf.Group {
	return bpf.Group{Name: r.ID, Cgroup: r.Cgroup, Bypass: r.Bypass, BypassPorts: r.BypassPorts, Ports: r.Ports}
}

// Teardown detaches a group and removes its record, under the state lock.
// A group that is not (or no longer) set up is not an error.
func Teardown(k *bpf.Kernel, store *records.Store, id string) error {
	unlock, err := store.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	rec, _ := store.Read(id)
	return teardown(k, store, id, rec)
}

// teardown is Teardown with the lock held and the record read (nil when it
// is missing or unreadable: the links still name the group's cgroup).
func teardown(k *bpf.Kernel, store *records.Store, id string, rec *records.Record) error {
	var groupID uint64
	if rec != nil {
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
func allocate(store *records.Store, groupID string, want []ports.Mapping, pool Pool) ([]ports.Mapping, error) {
	if len(want) == 0 {
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
	var out []ports.Mapping
	for _, p := range want {
		if p.HostPort == 0 {
			continue
		}
		if holder, ok := taken[key(p.Proto, p.HostPort)]; ok {
			return nil, fmt.Errorf("host port %d/%s is already taken by %s", p.HostPort, p.Proto, holder)
		}
		if !hostPortFree(p.Proto, p.HostPort, false) {
			return nil, fmt.Errorf("host port %d/%s is already in use on this host", p.HostPort, p.Proto)
		}
		taken[key(p.Proto, p.HostPort)] = groupID
	}
	if err := pool.CheckEphemeral(); err != nil && needsPool(want) {
		return nil, err
	}
	next := map[string]uint32{"tcp": uint32(pool.Low), "udp": uint32(pool.Low)}
	for _, p := range want {
		h := p.HostPort
		if h == 0 {
			for ; next[p.Proto] <= uint32(pool.High); next[p.Proto]++ {
				c := uint16(next[p.Proto])
				if _, ok := taken[key(p.Proto, c)]; !ok && hostPortFree(p.Proto, c, true) {
					h = c
					break
				}
			}
			if h == 0 {
				return nil, fmt.Errorf("no free host port left in the pool %s for %d/%s", pool, p.Port, p.Proto)
			}
			taken[key(p.Proto, h)] = groupID
		}
		out = append(out, ports.Mapping{Proto: p.Proto, Port: p.Port, HostPort: h})
	}
	return out, nil
}

func needsPool(ports []ports.Mapping) bool {
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
		if err := teardown(k, store, r.ID, r); err != nil {
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
