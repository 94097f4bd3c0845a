package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
)

// growingMaps are sockshim's maps whose entries come and go with sockets and
// groups (not the host's addresses, not the cgroup storage the kernel frees
// with the cgroup).
var growingMaps = []string{"virtual_to_host", "host_to_virtual", "host_port_holders", "bypass_counters", "bypass_sockets", "bypass_peer_refs", "bypass_listeners", "bypass_scope"}

// MapSizes counts the entries of those of growingMaps pinned under
// bpffs/maps (the bypass's are missing on a host without it), so a leak
// test can compare them before and after.
func MapSizes(bpffs string) (map[string]int, error) {
	sizes := map[string]int{}
	for _, name := range growingMaps {
		m, err := ebpf.LoadPinnedMap(filepath.Join(bpffs, "maps", name), &ebpf.LoadPinOptions{ReadOnly: true})
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open pinned map %s: %w", name, err)
		}
		n, err := countKeys(m)
		m.Close()
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", name, err)
		}
		sizes[name] = n
	}
	return sizes, nil
}

func countKeys(m *ebpf.Map) (int, error) {
	next := make([]byte, m.KeySize())
	var prev any // untyped nil: the first key
	for n := 0; ; n++ {
		if err := m.NextKey(prev, next); errors.Is(err, ebpf.ErrKeyNotExist) {
			return n, nil
		} else if err != nil {
			return n, err
		}
		prev = append([]byte(nil), next...)
	}
}
