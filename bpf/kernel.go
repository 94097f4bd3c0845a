package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Kernel is a handle on sockshim's pinned programs and maps under one bpffs
// directory. The kernel objects outlive it: Close only drops this process's
// references.
type Kernel struct {
	root  string
	progs map[string]*ebpf.Program
	maps  map[string]*ebpf.Map
}

// newKernel is a handle on root, opening nothing yet.
func newKernel(root string) *Kernel {
	return &Kernel{root: filepath.Clean(root), progs: map[string]*ebpf.Program{}, maps: map[string]*ebpf.Map{}}
}

// Layout under the root directory: these four directories hold everything
// sockshim pins there. Programs and the anchor's links have a subdirectory
// per build.
const (
	mapsDirName   = "maps"
	progsDirName  = "progs"
	groupsDirName = "groups"
	anchorDirName = "anchor"
)

// linkDirs are the directories of root that hold links (detached first on
// reset); pinDirs are all four.
func linkDirs(root string) []string {
	return []string{filepath.Join(root, groupsDirName), filepath.Join(root, anchorDirName)}
}

func pinDirs(root string) []string {
	return append(linkDirs(root), filepath.Join(root, progsDirName), filepath.Join(root, mapsDirName))
}

func (k *Kernel) mapsDir() string             { return filepath.Join(k.root, mapsDirName) }
func (k *Kernel) progsDir() string            { return filepath.Join(k.root, progsDirName, buildID) }
func (k *Kernel) groupsDir() string           { return filepath.Join(k.root, groupsDirName) }
func (k *Kernel) groupDir(name string) string { return filepath.Join(k.groupsDir(), name) }

// Open returns a handle on the objects pinned under root, loading and pinning
// them first if this build has not done so yet (safe when several processes
// do it at once). It mounts bpffs on /sys/fs/bpf when root is below it and
// nothing is mounted there.
func Open(root string) (*Kernel, error) {
	root = filepath.Clean(root)
	if err := ensureBPFFS(root); err != nil {
		return nil, err
	}
	k := newKernel(root)
	for _, dir := range []string{root, k.mapsDir(), k.groupsDir()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	unlock, err := lockDir(root)
	if err != nil {
		return nil, err
	}
	defer unlock()

	// Programs are pinned last, so a complete program directory means a
	// complete load; what a command needs is then opened on first use.
	if !k.programsPinned() {
		if err := k.loadAndPin(); err != nil {
			k.Close()
			return nil, err
		}
	} else if !k.anchored() {
		k.attachAnchor() // pinned by a sockshim from before the anchor
	}
	return k, nil
}

// Close releases this process's references.
func (k *Kernel) Close() error {
	for _, p := range k.progs {
		p.Close()
	}
	for _, m := range k.maps {
		m.Close()
	}
	return nil
}

// programsPinned reports whether this build's programs are all pinned.
func (k *Kernel) programsPinned() bool {
	entries, err := os.ReadDir(k.progsDir())
	if err != nil {
		return false
	}
	pinned := map[string]bool{}
	for _, e := range entries {
		pinned[e.Name()] = true
	}
	for _, p := range cgroupPrograms {
		if o, ok := optionalObject(p.concern); ok && pinned[o.unavailable] {
			continue
		}
		if !pinned[p.name] {
			return false
		}
	}
	return true
}

// DisableBypassEnv turns the bypass off on a host whatever the annotations
// say (containers then use the normal path, with a warning).
const DisableBypassEnv = "SOCKSHIM_DISABLE_BYPASS"

// BypassAvailable reports whether groups can get the bypass: the kernel
// loaded its programs and the operator did not turn it off.
func (k *Kernel) BypassAvailable() bool {
	if os.Getenv(DisableBypassEnv) != "" {
		return false
	}
	return k.loaded(concernBypass)
}

// PortsAllAvailable reports whether the kernel loaded the bind programs of
// io.sockshim.ports=all.
func (k *Kernel) PortsAllAvailable() bool { return k.loaded(concernAllBind) }

// loaded reports whether the optional object of concern c loaded: a
// directory among the pinned programs says when the kernel refused it.
func (k *Kernel) loaded(c concern) bool {
	o, _ := optionalObject(c)
	_, err := os.Stat(filepath.Join(k.progsDir(), o.unavailable))
	return err != nil
}

// program returns a pinned program, opening it on first use.
func (k *Kernel) program(name string) (*ebpf.Program, error) {
	if p, ok := k.progs[name]; ok {
		return p, nil
	}
	p, err := loadPinnedProgram(filepath.Join(k.progsDir(), name))
	if err != nil {
		return nil, fmt.Errorf("load pinned program %s (run `sockshim reset` if pins are damaged): %w", name, err)
	}
	k.progs[name] = p
	return p, nil
}

// bpfMap returns a pinned map, opening it on first use.
func (k *Kernel) bpfMap(name string) (*ebpf.Map, error) {
	if m, ok := k.maps[name]; ok {
		return m, nil
	}
	m, err := ebpf.LoadPinnedMap(filepath.Join(k.mapsDir(), name), nil)
	if err != nil {
		return nil, fmt.Errorf("load pinned map %s (run `sockshim reset` if pins are damaged): %w", name, err)
	}
	k.maps[name] = m
	return m, nil
}

// loadAndPin loads the embedded objects (maps shared by name through the pin
// directory), pins the programs under this build's directory, attaches the
// socket map's programs and removes the program pins of other builds.
func (k *Kernel) loadAndPin() error {
	specs, err := collectionSpecs()
	if err != nil {
		return err
	}
	opts := ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: k.mapsDir()}}
	refused := map[concern]bool{}
	for i, spec := range specs {
		o := objects[i]
		coll, err := ebpf.NewCollectionWithOptions(spec, opts)
		if err != nil && o.unavailable != "" && !errors.Is(err, ebpf.ErrMapIncompatible) {
			// A kernel without sockmap, sk_msg or sockops, or without
			// bpf_loop: the rest still works, and the groups that ask
			// for this object's part are told.
			refused[o.concern] = true
			continue
		}
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return fmt.Errorf("maps pinned under %s come from an incompatible sockshim build (run `sockshim reset`): %w", k.mapsDir(), err)
		}
		if err != nil {
			return fmt.Errorf("load eBPF objects: %w", err)
		}
		for name, p := range coll.Programs {
			k.progs[name] = p
		}
		for name, m := range coll.Maps {
			if _, ok := k.maps[name]; ok {
				m.Close() // the same pinned map, already held
				continue
			}
			k.maps[name] = m
		}
	}

	if err := os.RemoveAll(k.progsDir()); err != nil {
		return fmt.Errorf("clear %s: %w", k.progsDir(), err)
	}
	if err := os.MkdirAll(k.progsDir(), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", k.progsDir(), err)
	}
	for c := range refused {
		o, _ := optionalObject(c)
		if err := os.Mkdir(filepath.Join(k.progsDir(), o.unavailable), 0o700); err != nil {
			return fmt.Errorf("record that the kernel refused %s: %w", o.name, err)
		}
	}
	verdict := false
	if !refused[concernBypass] {
		verdict = needStreamVerdict()
		if verdict {
			if err := os.Mkdir(filepath.Join(k.progsDir(), streamVerdictPinned), 0o700); err != nil {
				return fmt.Errorf("record the stream_verdict: %w", err)
			}
		}
	}
	for _, sp := range sockhashPrograms {
		if refused[concernBypass] {
			break
		}
		if sp.attach == ebpf.AttachSkSKBStreamVerdict && !verdict {
			continue
		}
		err := link.RawAttachProgram(link.RawAttachProgramOptions{
			Target:  k.maps[mapSockets].FD(),
			Program: k.progs[sp.name],
			Attach:  sp.attach,
		})
		if err != nil {
			return fmt.Errorf("attach %s to %s: %w", sp.name, mapSockets, err)
		}
	}
	k.attachAnchor()
	// Programs are pinned last: a complete program directory means a
	// complete load.
	for _, p := range cgroupPrograms {
		if refused[p.concern] {
			continue
		}
		if err := k.progs[p.name].Pin(filepath.Join(k.progsDir(), p.name)); err != nil {
			return fmt.Errorf("pin program %s: %w", p.name, err)
		}
	}
	return k.removeOtherBuilds()
}

// removeOtherBuilds unpins programs of other sockshim builds. Groups
// attached by them keep working: their links hold the programs.
func (k *Kernel) removeOtherBuilds() error {
	dirs, err := otherBuilds(filepath.Dir(k.progsDir()))
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("unpin old programs: %w", err)
		}
	}
	return nil
}

// otherBuilds lists the directories in parent (one per build) that are not
// this build's.
func otherBuilds(parent string) ([]string, error) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", parent, err)
	}
	var dirs []string
	for _, e := range entries {
		if e.Name() != buildID {
			dirs = append(dirs, filepath.Join(parent, e.Name()))
		}
	}
	return dirs, nil
}

// OpenMaps returns a read-only handle on the pinned maps, for commands that
// only read (ls, port): it loads nothing, mounts nothing and takes no lock.
// The error wraps os.ErrNotExist when sockshim has not loaded yet.
func OpenMaps(root string) (*Kernel, error) {
	k := newKernel(root)
	// One map that always exists tells whether anything is loaded.
	m, err := ebpf.LoadPinnedMap(filepath.Join(k.mapsDir(), mapVirtualToHost), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("load pinned map %s: %w", mapVirtualToHost, err)
	}
	k.maps[mapVirtualToHost] = m
	return k, nil
}
