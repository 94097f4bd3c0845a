// Package group sets a group (a container, or a `sockshim run` process tree)
// up and tears it down: host port allocation, the kernel attachment and the
// record, kept consistent with each other.
package group

import (
	"errors"
	"fmt"
	"time"

	"github.com/sockshim/sockshim/bpf"
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
	if rec.All.Any() && !k.PortsAllAvailable() {
		return nil, fmt.Errorf("%s: %w", want.ID, bpf.ErrPortsAllUnavailable)
	}
	if rec.Ports, err = allocate(k, store, id, want.Ports, want.All, pool); err != nil {
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
		return nil, errors.Join(err, k.ReleaseHostPorts(id))
	}
	// On error AttachGroup releases the host ports with the rest.
	if err := k.AttachGroup(attachment(&rec, pool)); err != nil {
		return nil, errors.Join(err, store.Delete(rec.ID))
	}
	return &rec, nil
}

// attachment is what the kernel needs of a record, and of the pool an
// `all` group takes ports from as it binds them.
func attachment(r *records.Record, pool Pool) bpf.Group {
	g := bpf.Group{Name: r.ID, Cgroup: r.Cgroup, Bypass: r.Bypass, BypassPorts: r.BypassPorts, Ports: r.Ports, All: r.All}
	if r.All.Any() {
		g.PoolLow, g.PoolHigh = pool.Low, pool.High
	}
	return g
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
	detach := func() error { return k.DetachGroup(id, 0) }
	if rec != nil {
		// The pool only matters to attaching an `all` group.
		detach = func() error { return k.DetachKnownGroup(attachment(rec, Pool{}), rec.CgroupID) }
	}
	if err := detach(); err != nil {
		return fmt.Errorf("detach %s: %w", id, err)
	}
	return store.Delete(id)
}

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
	live := map[uint64]bool{}
	for _, r := range recs {
		known[r.ID] = true
		if id, err := bpf.CgroupID(r.Cgroup); err == nil && id == r.CgroupID {
			live[id] = true
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
	// Host ports and mappings of groups no record names any more (their
	// links went before their entries did) go back to the pool; only when
	// every record could be read, so that no live group loses its ports.
	if listErr == nil {
		errs = append(errs, k.RemovePortsExcept(live))
	}
	return removed, errors.Join(append(errs, listErr)...)
}
