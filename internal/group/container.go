package group

import (
	"errors"
	"fmt"
	"os"

	"github.com/sockshim/sockshim/internal/cgroup"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/oci"
)

// ErrOwnNetwork: a container in a network namespace of its own has its own
// port space already, and its loopback 4-tuples could equal another
// namespace's, so it gets no bypass either.
var ErrOwnNetwork = errors.New("the container has its own network namespace: io.sockshim annotations do nothing there")

// Container is a container as a door sees it when it starts: before any of
// its code runs.
type Container struct {
	Kind     records.Kind
	ID       string
	Pid      int // its init process
	Settings oci.Settings
	Pool     Pool
}

// StartContainer gives a container the treatment its settings ask for: the
// OCI hook's prestart and createRuntime, the NRI plugin's container start.
// It does nothing (nil record, nil error) when the settings ask for nothing
// or the container has its own network namespace (logged as a warning), and
// returns the record of a container already set up. The container gets a
// cgroup of its own when it shares one (see cgroup.ForContainer). On error
// nothing is left behind.
func (c *Core) StartContainer(ctr Container) (*records.Record, error) {
	if !ctr.Settings.Wanted() {
		return nil, nil
	}
	if rec, err := c.store.Read(ctr.ID); err == nil {
		c.log.Debug("already set up", "id", ctr.ID)
		return rec, nil
	}
	if ctr.Pid <= 0 {
		return nil, errors.New("the runtime gave no pid: setting a container up needs its init process")
	}
	if ownNetns(ctr.Pid) {
		c.log.Warn(ErrOwnNetwork.Error(), "id", ctr.ID)
		return nil, nil
	}
	k, mnt, err := c.kernelAndMount()
	if err != nil {
		return nil, err
	}
	cg, movedFrom, err := cgroup.ForContainer(mnt, ctr.ID, ctr.Pid)
	if err != nil {
		return nil, err
	}
	s := ctr.Settings
	rec, err := Setup(k, c.store, records.Record{
		ID: ctr.ID, Kind: ctr.Kind, Cgroup: cg, Bypass: s.Bypass, BypassPorts: s.BypassPorts,
		Ports: s.Ports, All: s.All, CreatedCgroup: movedFrom != "",
	}, ctr.Pool)
	if err != nil {
		return nil, errors.Join(err, cgroup.Restore(mnt, cg, movedFrom, ctr.Pid))
	}
	c.report(rec)
	return rec, nil
}

// StopContainer undoes StartContainer, by container id alone (poststop has
// no pid): links, ports, the cgroup sockshim made, the record, under the
// state lock. A container that is not set up is not an error.
func (c *Core) StopContainer(id string) error {
	unlock, err := c.store.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := c.store.Read(id)
	if errors.Is(err, os.ErrNotExist) {
		c.log.Debug("no record: nothing to clean", "id", id)
		return nil
	}
	k, err := c.kernel()
	if err != nil {
		return err
	}
	if err := teardown(k, c.store, id, rec); err != nil {
		return err
	}
	if rec != nil && rec.CreatedCgroup {
		mnt, err := cgroup.Mountpoint()
		if err != nil {
			return err
		}
		if err := cgroup.Remove(mnt, rec.Cgroup); err != nil {
			return fmt.Errorf("remove cgroup of %s: %w", id, err)
		}
	}
	c.log.Info("cleaned up", "id", id)
	return nil
}

// ownNetns reports whether process pid is in another network namespace than
// this process (the runtime's, or the plugin's: the host's).
func ownNetns(pid int) bool {
	a, err1 := os.Stat(fmt.Sprintf("/proc/%d/ns/net", pid))
	b, err2 := os.Stat("/proc/self/ns/net")
	return err1 == nil && err2 == nil && !os.SameFile(a, b)
}
