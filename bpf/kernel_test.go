package bpf

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/testenv"
)

// The attach table must name every cgroup program of the objects, with the
// attach type its section gives.
func TestProgramTableMatchesObjects(t *testing.T) {
	specs, err := collectionSpecs()
	if err != nil {
		t.Fatal(err)
	}
	inObjects := map[string]ebpf.AttachType{}
	for _, s := range specs {
		for name, p := range s.Programs {
			inObjects[name] = p.AttachType
		}
	}
	inTable := map[string]bool{}
	for _, p := range cgroupPrograms {
		inTable[p.name] = true
		if got, ok := inObjects[p.name]; !ok || got != p.attach {
			t.Errorf("%s: table says attach %v, object says %v (present %v)", p.name, p.attach, got, ok)
		}
	}
	for _, p := range sockhashPrograms {
		inTable[p.name] = true
		if got := inObjects[p.name]; got != p.attach {
			t.Errorf("%s: table says attach %v, object says %v", p.name, p.attach, got)
		}
	}
	for name := range inObjects {
		if !inTable[name] {
			t.Errorf("program %s is in the objects but not in the attach tables", name)
		}
	}
}

func openTestKernel(t testing.TB) *Kernel {
	t.Helper()
	root := testenv.BPFFS(t)
	k, err := Open(root)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func TestOpenPinsOnceAndReopens(t *testing.T) {
	k := openTestKernel(t)
	pinned, err := os.ReadDir(k.progsDir())
	if err != nil {
		t.Fatal(err)
	}
	programs := 0
	for _, e := range pinned {
		if !e.IsDir() { // directories are the load's markers
			programs++
		}
	}
	if programs != len(cgroupPrograms) {
		t.Fatalf("%d programs pinned, want %d", programs, len(cgroupPrograms))
	}
	k2, err := Open(k.root)
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	defer k2.Close()
	p1, err := k.program("bypass_track_established")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := k2.program("bypass_track_established")
	if err != nil {
		t.Fatal(err)
	}
	id1, _ := p1.Info()
	id2, _ := p2.Info()
	a, _ := id1.ID()
	b, _ := id2.ID()
	if a != b {
		t.Fatalf("second open loaded new programs (id %d, was %d) instead of the pinned ones", b, a)
	}
}

// Concurrent first use: every process-like opener gets the same programs.
func TestOpenConcurrentFirstLoad(t *testing.T) {
	root := testenv.BPFFS(t)
	const n = 8
	ids := make([]ebpf.ProgramID, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := Open(root)
			if err != nil {
				errs[i] = err
				return
			}
			defer k.Close()
			prog, err := k.program("bypass_track_established")
			if err != nil {
				errs[i] = err
				return
			}
			info, err := prog.Info()
			if err != nil {
				errs[i] = err
				return
			}
			ids[i], _ = info.ID()
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("opener %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("opener %d got program %d, opener 0 got %d", i, ids[i], ids[0])
		}
	}
}

func TestAttachRefusesRootCgroup(t *testing.T) {
	k := openTestKernel(t)
	mnt := testenv.CgroupMount(t)
	err := k.AttachGroup(Group{Name: "root", Cgroup: mnt, Bypass: true})
	if err == nil || !strings.Contains(err.Error(), "root cgroup") {
		t.Fatalf("attach to %s: got %v, want a refusal naming the root cgroup", mnt, err)
	}
	if n := attachedCount(t, mnt); n != 0 {
		t.Fatalf("%d programs attached to the root cgroup", n)
	}
	if _, err := os.Stat(k.groupDir("root")); !os.IsNotExist(err) {
		t.Fatalf("refused group left %s behind", k.groupDir("root"))
	}
}

func attachedCount(t *testing.T, cgroupPath string) int {
	t.Helper()
	n, err := testenv.AttachedPrograms(cgroupPath)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAttachDetachLeavesNothing(t *testing.T) {
	k := openTestKernel(t)
	parent := testenv.CgroupParent(t)
	cg := testenv.Cgroup(t, parent, "g1")
	before, err := testenv.MapSizes(k.root)
	if err != nil {
		t.Fatal(err)
	}
	g := Group{Name: "g1", Cgroup: cg, Bypass: true, Ports: []ports.Mapping{{Proto: "tcp", Port: 3000, HostPort: 21000}, {Proto: "udp", Port: 3000, HostPort: 21000}}}
	if err := k.AttachGroup(g); err != nil {
		t.Fatalf("attach: %v", err)
	}
	want := 0
	for _, p := range cgroupPrograms {
		if g.needs(p.concern) {
			want++
		}
	}
	if n := attachedCount(t, cg); n != want || want != len(cgroupPrograms)-2 {
		t.Fatalf("%d programs attached, want %d: all but the two bind programs of ports=all", n, want)
	}
	if err := k.AttachGroup(g); err == nil {
		t.Fatal("attaching the same group twice succeeded")
	}
	id, _ := CgroupID(cg)
	got, err := k.Mappings(id)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Proto < got[j].Proto })
	if len(got) != 2 || got[0] != g.Ports[0] || got[1] != g.Ports[1] {
		t.Fatalf("mappings read back %v, want %v", got, g.Ports)
	}
	names, _ := k.Groups()
	if len(names) != 1 || names[0] != "g1" {
		t.Fatalf("groups %v, want [g1]", names)
	}
	if err := k.DetachGroup("g1", id); err != nil {
		t.Fatalf("detach: %v", err)
	}
	if n := attachedCount(t, cg); n != 0 {
		t.Fatalf("%d programs still attached after detach", n)
	}
	after, _ := testenv.MapSizes(k.root)
	for name, n := range before {
		if after[name] != n {
			t.Errorf("map %s has %d entries after detach, %d before", name, after[name], n)
		}
	}
	if err := k.DetachGroup("g1", id); err != nil {
		t.Fatalf("second detach: %v", err)
	}
}

func TestResetUnpinsEverything(t *testing.T) {
	k := openTestKernel(t)
	parent := testenv.CgroupParent(t)
	cg := testenv.Cgroup(t, parent, "g")
	if err := k.AttachGroup(Group{Name: "g", Cgroup: cg, Bypass: true, Ports: []ports.Mapping{{Proto: "tcp", Port: 80, HostPort: 21001}}}); err != nil {
		t.Fatal(err)
	}
	k.Close()
	if err := Reset(k.root); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if _, err := os.Stat(k.root); !os.IsNotExist(err) {
		left, _ := filepath.Glob(filepath.Join(k.root, "*"))
		t.Fatalf("after reset %s still holds %v", k.root, left)
	}
	if n := attachedCount(t, cg); n != 0 {
		t.Fatalf("%d programs still attached after reset", n)
	}
	if n := attachedCount(t, testenv.CgroupMount(t)); n != 0 {
		t.Fatalf("%d programs attached to the root cgroup", n)
	}
}

// The generated build id is the hash of the objects this binary embeds: a
// build whose objects changed without `make generate` fails here.
func TestBuildIDMatchesObjects(t *testing.T) {
	h := sha256.New()
	for _, o := range objects {
		h.Write(o.elf)
	}
	if want := hex.EncodeToString(h.Sum(nil))[:16]; buildID != want {
		t.Fatalf("build id %s, the objects hash to %s: run make generate", buildID, want)
	}
}
