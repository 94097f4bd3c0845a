package group

import (
	"log/slog"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/cgroup"
	"github.com/sockshim/sockshim/internal/records"
)

// Core is what the doors (the OCI hook, the NRI plugin, `sockshim run`)
// share: the store of records and the kernel objects, opened on first need
// so that a hook with nothing to do never loads them.
type Core struct {
	store *records.Store
	bpffs string
	k     *bpf.Kernel
	ownsK bool
	log   *slog.Logger
}

// Open opens the store at stateDir; the kernel objects pinned under bpffs
// are opened when a call first needs them.
func Open(bpffs, stateDir string, log *slog.Logger) (*Core, error) {
	store, err := records.Open(stateDir)
	if err != nil {
		return nil, err
	}
	return &Core{store: store, bpffs: bpffs, log: log}, nil
}

// NewCore is a core over objects already open, which stay the caller's to
// close (the NRI plugin holds them for its whole life).
func NewCore(k *bpf.Kernel, store *records.Store, log *slog.Logger) *Core {
	return &Core{store: store, k: k, log: log}
}

// Store is the core's store of records.
func (c *Core) Store() *records.Store { return c.store }

// kernel opens the kernel objects on first use.
func (c *Core) kernel() (*bpf.Kernel, error) {
	if c.k != nil {
		return c.k, nil
	}
	k, err := bpf.Open(c.bpffs)
	if err != nil {
		return nil, err
	}
	c.k, c.ownsK = k, true
	return k, nil
}

// kernelAndMount is what a set-up needs first: the kernel objects and the
// cgroup v2 mount.
func (c *Core) kernelAndMount() (*bpf.Kernel, string, error) {
	k, err := c.kernel()
	if err != nil {
		return nil, "", err
	}
	mnt, err := cgroup.Mountpoint()
	if err != nil {
		return nil, "", err
	}
	return k, mnt, nil
}

// Close closes what Open opened.
func (c *Core) Close() {
	if c.ownsK {
		c.k.Close()
		c.k, c.ownsK = nil, false
	}
}

// report logs what a group asked for and did not get, and what it got.
func (c *Core) report(rec *records.Record) {
	for _, w := range rec.Warnings {
		c.log.Warn(w, "id", rec.ID)
	}
	c.log.Info("set up", "id", rec.ID, "kind", rec.Kind, "cgroup", rec.Cgroup, "bypass", rec.Bypass, "ports", rec.Ports)
}
