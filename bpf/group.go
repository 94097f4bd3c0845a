package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/ports"
)

// Group flags, as in c/common.h.
const (
	flagPorts        = 1 << 0
	flagBypass       = 1 << 1
	flagBypassScoped = 1 << 2
	flagPortsAllTCP  = 1 << 3
	flagPortsAllUDP  = 1 << 4
)

// Group is one container (or `sockshim run` group): a cgroup v2 directory and
// the treatment it gets. Its descendants get the same treatment.
type Group struct {
	// Name identifies the group's pins; a container id or a run id.
	Name string
	// Cgroup is the group's cgroup v2 directory.
	Cgroup string
	// Bypass opts the group's TCP sockets into the loopback bypass.
	Bypass bool
	// BypassPorts, when not empty, scope the bypass to the connections
	// accepted by the group's listeners on these (virtual) ports, plus the
	// group's own outgoing connections.
	BypassPorts []uint16
	// Ports are the group's virtual ports and the host ports behind them.
	// AttachGroup claims the host ports (ClaimHostPort), keeping claims
	// made for the group before; a port another group holds is refused.
	Ports []ports.Mapping
	// All: the protocols whose other ports get a host port from the pool
	// PoolLow-PoolHigh when the group first binds them (c/ports_all.c).
	All               ports.All
	PoolLow, PoolHigh uint16
}

// groupConfig mirrors struct group_config.
type groupConfig struct {
	GroupID  uint64
	Flags    uint32
	PoolLow  uint16
	PoolHigh uint16
}

// ErrPortsAllUnavailable: the kernel refused the bind programs of
// io.sockshim.ports=all.
var ErrPortsAllUnavailable = errors.New("io.sockshim.ports=all is not available on this host: the kernel refused its bind programs (they need bpf_loop and bpf_set_retval, Linux 5.18 or newer; see sockshim doctor)")

// ErrBypassUnavailable: the kernel refused the bypass programs, or the
// operator turned the bypass off (SOCKSHIM_DISABLE_BYPASS).
var ErrBypassUnavailable = errors.New("the loopback bypass is not available on this host (the kernel refused its programs, or SOCKSHIM_DISABLE_BYPASS is set; see sockshim doctor)")

// validName accepts names safe as one path element: 1-128 letters, digits,
// '_', '.' and '-', starting with a letter or digit. (A regexp with {0,127}
// compiles to a large program at start-up, which the hook pays every time.)
func validName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i, c := range name {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// AttachGroup attaches the programs g needs to its cgroup, with links pinned
// under the group's directory so the attachment outlives this process, and
// fills the port maps. It refuses the root cgroup of the hierarchy. On error
// nothing of the group is left behind.
func (k *Kernel) AttachGroup(g Group) (err error) {
	if !validName(g.Name) {
		return fmt.Errorf("invalid group name %q: use letters, digits, '_', '.' and '-'", g.Name)
	}
	id, err := CgroupID(g.Cgroup)
	if err != nil {
		return err
	}
	if g.Bypass && !k.BypassAvailable() {
		return ErrBypassUnavailable
	}
	if g.All.Any() && !k.PortsAllAvailable() {
		return ErrPortsAllUnavailable
	}
	if g.All.Any() && (g.PoolLow == 0 || g.PoolHigh < g.PoolLow) {
		return fmt.Errorf("group %s: io.sockshim.ports=all needs a pool, not %d-%d", g.Name, g.PoolLow, g.PoolHigh)
	}
	if err := validateMappings(g.Ports); err != nil {
		return fmt.Errorf("group %s: %w", g.Name, err)
	}
	// The programs tell local peers from remote ones by this host's
	// addresses: bring them up to date for the new group (idempotent, so
	// concurrent attaches may both do it).
	if err := k.syncHostAddrs(); err != nil {
		return err
	}
	dir := k.groupDir(g.Name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("group %s is already attached", g.Name)
		}
		return fmt.Errorf("create %s: %w", dir, err)
	}
	defer func() {
		if err == nil {
			return
		}
		if derr := k.DetachGroup(g.Name, id); derr != nil {
			err = errors.Join(err, fmt.Errorf("roll back group %s: %w", g.Name, derr))
		}
	}()

	var flags uint32
	if len(g.Ports) > 0 || g.All.Any() {
		flags |= flagPorts
		if err := k.addMappings(id, g.Ports); err != nil {
			return fmt.Errorf("group %s: %w", g.Name, err)
		}
	}
	cfg := groupConfig{GroupID: id}
	if g.All.TCP {
		flags |= flagPortsAllTCP
	}
	if g.All.UDP {
		flags |= flagPortsAllUDP
	}
	if g.All.Any() {
		cfg.PoolLow, cfg.PoolHigh = g.PoolLow, g.PoolHigh
	}
	if g.Bypass {
		flags |= flagBypass
		if err := k.resetCounters(id); err != nil {
			return fmt.Errorf("group %s: %w", g.Name, err)
		}
		if len(g.BypassPorts) > 0 {
			flags |= flagBypassScoped
			if err := k.addScope(id, scopeHostPorts(g.BypassPorts, g.Ports)); err != nil {
				return fmt.Errorf("group %s: %w", g.Name, err)
			}
		}
	}

	// One descriptor of the cgroup for every link: link.AttachCgroup opens
	// the path again for each program and first probes which attach call
	// the kernel has, and the kernels with these programs all have links.
	cg, err := os.Open(g.Cgroup)
	if err != nil {
		return fmt.Errorf("open cgroup of group %s: %w", g.Name, err)
	}
	defer cg.Close()
	configured := false
	for _, p := range cgroupPrograms {
		if !g.needs(p.concern) {
			continue
		}
		prog, err := k.program(p.name)
		if err != nil {
			return err
		}
		l, err := link.AttachRawLink(link.RawLinkOptions{Target: int(cg.Fd()), Attach: p.attach, Program: prog})
		if err != nil {
			return fmt.Errorf("attach %s to %s: %w", p.name, g.Cgroup, err)
		}
		err = l.Pin(filepath.Join(dir, p.name))
		l.Close()
		if err != nil {
			return fmt.Errorf("pin link of %s: %w", p.name, err)
		}
		if !configured {
			// The first attachment allocated the group's config
			// storage, shared by all its programs; until this write it
			// is zero and they leave sockets alone. The group's code
			// does not run yet, so nothing goes untreated.
			configured = true
			cfg.Flags = flags
			m, err := k.bpfMap(mapGroupConfig)
			if err != nil {
				return err
			}
			if err := m.Update(id, cfg, ebpf.UpdateExist); err != nil {
				return fmt.Errorf("configure group %s: %w", g.Name, err)
			}
		}
	}
	return nil
}

// DetachGroup removes a group's links (detaching its programs) and its map
// entries. groupID is the group's cgroup id; 0 when unknown (the cgroup is
// gone), then the entries are found by the links that remain. Detaching a
// group that is not attached is not an error.
func (k *Kernel) DetachGroup(name string, groupID uint64) error {
	return k.detach(name, groupID, nil)
}

// DetachKnownGroup is DetachGroup for a group as it was attached (its
// record), whose cgroup id is groupID: the entries the description names in
// full are deleted by key, not found by scanning maps of up to 131072
// buckets, which took 0.33 ms of a 0.82 ms teardown
// (BenchmarkContainerStartStop).
func (k *Kernel) DetachKnownGroup(g Group, groupID uint64) error {
	return k.detach(g.Name, groupID, &g)
}

func (k *Kernel) detach(name string, groupID uint64, known *Group) error {
	if !validName(name) {
		return fmt.Errorf("invalid group name %q", name)
	}
	dir := k.groupDir(name)
	ids := map[uint64]bool{}
	if groupID != 0 {
		ids[groupID] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if id, err := detachPinnedLink(path); err != nil {
			errs = append(errs, err)
		} else if id != 0 {
			ids[id] = true
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	}
	for id := range ids {
		remove := k.removeGroupEntries
		if known != nil && id == groupID {
			remove = func(id uint64) error { return k.removeKnownEntries(id, *known) }
		}
		if err := remove(id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// detachPinnedLink detaches the cgroup link pinned at path and unpins it,
// returning the cgroup id it was attached to (0 when its cgroup is gone).
// Unpinning alone would release the link from a kernel work queue, some time
// later; BPF_LINK_DETACH takes the program off the cgroup before returning.
func detachPinnedLink(path string) (uint64, error) {
	var id uint64
	l, err := link.LoadPinnedLink(path, nil)
	if err == nil {
		if info, err := l.Info(); err == nil {
			if cg := info.Cgroup(); cg != nil {
				id = cg.CgroupId
			}
		}
		err = l.Detach()
		l.Close()
		if err != nil && !errors.Is(err, unix.ENOLINK) {
			return id, fmt.Errorf("detach %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return id, fmt.Errorf("unpin %s: %w", path, err)
	}
	return id, nil
}

// Groups lists the names of the attached groups.
func (k *Kernel) Groups() ([]string, error) {
	entries, err := os.ReadDir(k.groupsDir())
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// removeGroupEntries deletes everything the maps hold for a group id; its
// host ports go back to the pool.
func (k *Kernel) removeGroupEntries(id uint64) error {
	if err := k.removeMappings(id); err != nil {
		return err
	}
	if err := k.ReleaseHostPorts(id); err != nil {
		return err
	}
	if err := k.removeCounters(id); err != nil {
		return err
	}
	return k.removeSocketEntries(id)
}

// removeCounters deletes a group's redirect counters.
func (k *Kernel) removeCounters(id uint64) error {
	m, err := k.bpfMap(mapCounters)
	if errors.Is(err, os.ErrNotExist) {
		return nil // no bypass on this host
	}
	if err != nil {
		return err
	}
	if err := m.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("remove counters of group %d: %w", id, err)
	}
	return nil
}

// removeKnownEntries is removeGroupEntries for group g of id: its listed
// mappings and their host ports by key, its sockets' entries only if it had
// the bypass, its bypass ports only if it had any. The programs of an `all`
// group make mappings and claims as it binds, so those are still scanned for.
func (k *Kernel) removeKnownEntries(id uint64, g Group) error {
	if g.All.Any() {
		return k.removeGroupEntries(id)
	}
	if err := k.removeListedMappings(id, g.Ports); err != nil {
		return err
	}
	if !g.Bypass {
		return nil
	}
	if err := k.removeCounters(id); err != nil {
		return err
	}
	if err := removeGroupOwned[bypassSockKey, peerRef](k, mapPeerRefs, id); err != nil {
		return err
	}
	if err := removeGroupOwned[bypassListenerKey, listenerCount](k, mapListeners, id); err != nil {
		return err
	}
	if len(g.BypassPorts) == 0 {
		return nil
	}
	return k.removeScope(id)
}

// CgroupID returns the id of a cgroup v2 directory (its inode number), and
// refuses anything that is not a non-root cgroup v2 directory.
func CgroupID(path string) (uint64, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", path, err)
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return 0, fmt.Errorf("%s is not a cgroup v2 directory", path)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", path, err)
	}
	// The root of a cgroup v2 hierarchy has id 1. Attaching there would
	// touch every socket of the host: never.
	if st.Ino == 1 {
		return 0, fmt.Errorf("refusing the root cgroup of the v2 hierarchy (%s): sockshim attaches only to a container's own cgroup", path)
	}
	return st.Ino, nil
}

// needs reports whether the group needs the programs of concern c.
func (g Group) needs(c concern) bool {
	switch c {
	case concernBypass:
		return g.Bypass
	case concernPorts:
		return len(g.Ports) > 0 || g.All.Any()
	case concernListedBind:
		return len(g.Ports) > 0 && !g.All.Any()
	case concernAllBind:
		return g.All.Any()
	case concernUDPPorts:
		if g.All.UDP {
			return true
		}
		for _, m := range g.Ports {
			if m.Proto == "udp" {
				return true
			}
		}
	}
	return false
}
