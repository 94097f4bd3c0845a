package group

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/sockshim/sockshim/internal/cgroup"
	"github.com/sockshim/sockshim/internal/records"
)

// Run is a `sockshim run` group: a cgroup sockshim made for it and the
// treatment on it, until Close.
type Run struct {
	Record *records.Record
	c      *Core
	mnt    string
	shared string // the default parent, removed with its last group
}

// StartRun makes want's cgroup, parent/<want.ID> (parent "": sockshim's own,
// <cgroup v2 mount>/sockshim), and sets the group up in it. On error
// nothing is left behind.
func (c *Core) StartRun(want records.Record, pool Pool, parent string) (*Run, error) {
	k, mnt, err := c.kernelAndMount()
	if err != nil {
		return nil, err
	}
	r := &Run{c: c, mnt: mnt}
	if parent == "" {
		parent = filepath.Join(mnt, "sockshim")
		r.shared = parent
	}
	want.Kind, want.Cgroup, want.CreatedCgroup = records.KindRun, filepath.Join(parent, want.ID), true
	if err := cgroup.Create(mnt, want.Cgroup); err != nil {
		return nil, err
	}
	if r.Record, err = Setup(k, c.store, want, pool); err != nil {
		r.Record = &want
		return nil, errors.Join(err, r.removeCgroup())
	}
	c.report(r.Record)
	return r, nil
}

// Close tears the group down and removes its cgroup.
func (r *Run) Close() error {
	k, err := r.c.kernel()
	if err != nil {
		return err
	}
	return errors.Join(Teardown(k, r.c.store, r.Record.ID), r.removeCgroup())
}

func (r *Run) removeCgroup() error {
	err := cgroup.Remove(r.mnt, r.Record.Cgroup)
	if r.shared != "" {
		// Another run may still use the shared parent: then rmdir fails
		// with EBUSY, and that is fine.
		os.Remove(r.shared)
	}
	return err
}
