// Package records keeps one JSON record per group (container or `sockshim
// run`) under sockshim's state directory: what `ls`, `port`, poststop and gc
// read, since poststop gets no pid and the cgroup may be gone by then.
package records

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sockshim/sockshim/internal/fsutil"
	"github.com/sockshim/sockshim/internal/ports"
)

// DefaultDir is the state directory of a real installation.
const DefaultDir = "/run/sockshim"

// Kind is which door set a group up.
type Kind string

const (
	KindRun       Kind = "run"       // sockshim run
	KindContainer Kind = "container" // the OCI hook
	KindNRI       Kind = "nri"       // the NRI plugin
)

// Record describes one group under sockshim: what it asks for (the ports'
// host port 0 means "from the pool") and, once set up, what it got.
type Record struct {
	ID       string `json:"id"`
	Kind     Kind   `json:"kind"`
	Cgroup   string `json:"cgroup"`
	CgroupID uint64 `json:"cgroup_id"`
	Bypass   bool   `json:"bypass"`
	// BypassPorts scope the bypass to the group's listeners on these ports.
	BypassPorts []uint16        `json:"bypass_ports,omitempty"`
	Ports       []ports.Mapping `json:"ports"`
	// All: the protocols whose other ports get a host port when the group
	// binds them (io.sockshim.ports=all). Those mappings live in the
	// kernel's maps only: the record cannot know them.
	All ports.All `json:"all,omitzero"`
	// Warnings say what the group asked for and did not get.
	Warnings []string `json:"warnings,omitempty"`
	// CreatedCgroup is set when sockshim made the cgroup and must remove it.
	CreatedCgroup bool      `json:"created_cgroup,omitempty"`
	Created       time.Time `json:"created"`
}

// Store is a state directory.
type Store struct {
	dir string
}

// Open returns the store at dir, creating the directory.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "groups"), 0o700); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(id string) string {
	return filepath.Join(s.dir, "groups", id+".json")
}

// Lock serialises host port allocation between processes.
func (s *Store) Lock() (unlock func(), err error) {
	unlock, err = fsutil.Lock(filepath.Join(s.dir, "lock"))
	if err != nil {
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	return unlock, nil
}

// Write stores r atomically: a reader sees the old record or the new one.
func (s *Store) Write(r *Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode record %s: %w", r.ID, err)
	}
	if err := fsutil.WriteFileAtomic(s.path(r.ID), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("record %s: %w", r.ID, err)
	}
	return nil
}

// Read returns the record of id; the error wraps os.ErrNotExist when there
// is none.
func (s *Store) Read(id string) (*Record, error) {
	data, err := os.ReadFile(s.path(id))
	if err != nil {
		return nil, fmt.Errorf("record of %s: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("record of %s is damaged: %w", id, err)
	}
	return &r, nil
}

// Delete removes the record of id; a missing record is not an error.
func (s *Store) Delete(id string) error {
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove record of %s: %w", id, err)
	}
	return nil
}

// DeleteAll removes every record, readable or not (sockshim reset).
func (s *Store) DeleteAll() error {
	entries, err := os.ReadDir(filepath.Join(s.dir, "groups"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("list records: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			errs = append(errs, s.Delete(id))
		}
	}
	return errors.Join(errs...)
}

// List returns every record, sorted by id. Damaged records are skipped and
// reported in the error, next to the ones that could be read.
func (s *Store) List() ([]*Record, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "groups"))
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	var out []*Record
	var errs []error
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		r, err := s.Read(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, errors.Join(errs...)
}

// Find returns the record whose id is id or, as with podman, starts with it
// when exactly one does.
func (s *Store) Find(id string) (*Record, error) {
	if r, err := s.Read(id); err == nil {
		return r, nil
	}
	all, err := s.List()
	if err != nil && len(all) == 0 {
		return nil, err
	}
	var match []*Record
	for _, r := range all {
		if strings.HasPrefix(r.ID, id) {
			match = append(match, r)
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("no container or group %q under sockshim", id)
	case 1:
		return match[0], nil
	}
	return nil, fmt.Errorf("%q matches %d containers: give more of the id", id, len(match))
}
