package records

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockshim/sockshim/internal/ports"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func write(t *testing.T, s *Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.Write(&Record{ID: id, Kind: "run"}); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(rs []*Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// groupFiles lists the groups directory, where Write leaves its files.
func groupFiles(t *testing.T, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.dir, "groups"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteRead(t *testing.T) {
	s := open(t)
	want := &Record{
		ID: "c1", Kind: "container", Cgroup: "/sys/fs/cgroup/unified/a", CgroupID: 4242,
		Bypass: true, BypassPorts: []uint16{80, 443},
		Ports:         []ports.Mapping{{Proto: "tcp", Port: 80, HostPort: 30080}, {Proto: "udp", Port: 53, HostPort: 30053}},
		All:           ports.All{UDP: true},
		Warnings:      []string{"no bypass for udp"},
		CreatedCgroup: true,
		Created:       time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC),
	}
	// Every field set, so that the round trip checks each one.
	v := reflect.ValueOf(*want)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("the test record leaves %s unset", v.Type().Field(i).Name)
		}
	}
	if err := s.Write(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read("c1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %+v, want %+v", got, want)
	}
	// Atomic: only the final file, no temporary one left beside it.
	if names := groupFiles(t, s); !slices.Equal(names, []string{"c1.json"}) {
		t.Fatalf("groups directory holds %v, want [c1.json]", names)
	}
	// Overwriting replaces the record in place.
	want.Kind = "nri"
	if err := s.Write(want); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read("c1"); err != nil || got.Kind != "nri" {
		t.Fatalf("after overwrite: %+v, %v", got, err)
	}
	if names := groupFiles(t, s); !slices.Equal(names, []string{"c1.json"}) {
		t.Fatalf("after overwrite the groups directory holds %v", names)
	}
}

func TestMissing(t *testing.T) {
	s := open(t)
	if _, err := s.Read("nope"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read of a missing record: %v, want ErrNotExist", err)
	}
	if err := s.Delete("nope"); err != nil {
		t.Fatalf("Delete of a missing record: %v", err)
	}
	write(t, s, "a")
	if err := s.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read("a"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read after Delete: %v, want ErrNotExist", err)
	}
}

func TestListFind(t *testing.T) {
	s := open(t)
	write(t, s, "bbb2", "aaa", "bbb1")
	// A temporary file left by a crash mid-Write is no record.
	if err := os.WriteFile(s.path("zzz")+".tmp", []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	all, err := s.List()
	if err != nil || !slices.Equal(ids(all), []string{"aaa", "bbb1", "bbb2"}) {
		t.Fatalf("List = %v, %v; want [aaa bbb1 bbb2] sorted", ids(all), err)
	}
	if all[0].Kind != "run" {
		t.Fatalf("List gave %+v", all[0])
	}
	for id, want := range map[string]string{"aaa": "aaa", "a": "aaa", "bbb1": "bbb1"} {
		if r, err := s.Find(id); err != nil || r.ID != want {
			t.Errorf("Find(%q) = %v, %v; want %s", id, r, err, want)
		}
	}
	if _, err := s.Find("bbb"); err == nil || !strings.Contains(err.Error(), `"bbb" matches 2 containers`) {
		t.Errorf("Find of an ambiguous prefix: %v", err)
	}
	if _, err := s.Find("c"); err == nil || !strings.Contains(err.Error(), `no container or group "c"`) {
		t.Errorf("Find of no match: %v", err)
	}
}

func TestDamaged(t *testing.T) {
	s := open(t)
	write(t, s, "good")
	if err := os.WriteFile(s.path("bad"), []byte(`{"id": "bad", `), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := s.Read("bad")
	if err == nil || errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "record of bad is damaged: ") {
		t.Fatalf("Read of a damaged record: %v", err)
	}
	// List still returns the good ones, and names the damaged one.
	all, err := s.List()
	if !slices.Equal(ids(all), []string{"good"}) || err == nil || !strings.Contains(err.Error(), "record of bad is damaged") {
		t.Fatalf("List = %v, %v; want [good] and the damaged one reported", ids(all), err)
	}
}

func TestLock(t *testing.T) {
	s := open(t)
	unlock, err := s.Lock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock) // a failing test must not leave a Lock blocked (closing twice is harmless)
	// flock locks belong to the open file: another one cannot take it.
	f, err := os.Open(filepath.Join(s.dir, "lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
		t.Fatalf("second flock while locked: %v, want EWOULDBLOCK", err)
	}

	// (How a second Lock waits is internal/fsutil's test.)
	unlock()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("flock after unlock: %v", err)
	}
}

// DeleteAll removes damaged records too, and an empty store is no error.
func TestDeleteAll(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAll(); err != nil {
		t.Fatalf("empty store: %v", err)
	}
	if err := s.Write(&Record{ID: "good", Kind: KindRun}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.path("bad"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAll(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.dir, "groups")); len(entries) != 0 {
		t.Errorf("%d files left after DeleteAll", len(entries))
	}
}
