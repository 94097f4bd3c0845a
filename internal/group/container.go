package group

import (
	"errors"
	"fmt"
	"os"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/cgroup"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/oci"
)

// ErrOwnNetwork is returned for a container in a network namespace of its
// own: it has its own port space already, and its loopback 4-tuples could
// equal another namespace's, so it gets no bypass either.
var ErrOwnNetwork = errors.New("the container has its own network namespace: io.sockshim annotations do nothing there")

// SetupContainer gives the container whose init process is pid the
// treatment its settings ask for: the OCI hook's prestart and the NRI
// plugin's StartContainer (kind "container" or "nri"). The container gets a cgroup of its own when it
// shares one (see cgroup.ForContainer). On error nothing is left behind.
func SetupContainer(k *bpf.Kernel, store *records.Store, kind, id string, pid int, s oci.Settings, pool Pool) (*records.Record, error) {
	if ownNetns(pid) {
		return nil, ErrOwnNetwork
	}
	mnt, err := cgroup.Mountpoint()
	if err != nil {
		return nil, err
	}
	cg, movedFrom, err := cgroup.ForContainer(mnt, id, pid)
	if err != nil {
		return nil, err
	}
	rec, err := Setup(k, store, Spec{ID: id, Kind: kind, Cgroup: cg, Bypass: s.Bypass, BypassPorts: s.BypassPorts, Ports: s.Ports, Pool: pool, CreatedCgroup: movedFrom != ""})
	if err != nil {
		cgroup.Restore(cg, movedFrom, pid)
		return nil, err
	}
	return rec, nil
}

// TeardownContainer undoes SetupContainer, by container id alone (poststop
// has no pid): links, ports, the cgroup sockshim made, the record. A
// container that is not set up is not an error.
func TeardownContainer(k *bpf.Kernel, store *records.Store, id string) error {
	rec, err := store.Read(id)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := Teardown(k, store, id); err != nil {
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
	return nil
}

// ownNetns reports whether process pid is in another network namespace than
// this process (the runtime's, or the plugin's: the host's).
func ownNetns(pid int) bool {
	a, err1 := os.Stat(fmt.Sprintf("/proc/%d/ns/net", pid))
	b, err2 := os.Stat("/proc/self/ns/net")
	return err1 == nil && err2 == nil && !os.SameFile(a, b)
}
