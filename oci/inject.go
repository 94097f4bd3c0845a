package oci

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sockshim/sockshim/internal/fsutil"
)

// InjectHooks adds binary as the prestart and poststop hook of the bundle's
// config.json (for plain runc), replacing any sockshim hook already there,
// so running it twice changes nothing. Everything else in the file is kept
// as it is.
func InjectHooks(bundle, binary string, args ...string) error {
	if !filepath.IsAbs(binary) {
		return fmt.Errorf("hook path %q is not absolute", binary)
	}
	return editHooks(bundle, func(hooks map[string][]specs.Hook) {
		for _, stage := range []string{"prestart", "poststop"} {
			hooks[stage] = append(withoutSockshim(hooks[stage], binary), specs.Hook{
				Path: binary,
				Args: append(append([]string{filepath.Base(binary), "hook"}, args...), stage),
			})
		}
	})
}

// RemoveHooks takes sockshim's hooks (those running binary) out of the
// bundle's config.json.
func RemoveHooks(bundle, binary string) error {
	return editHooks(bundle, func(hooks map[string][]specs.Hook) {
		for stage, hs := range hooks {
			hooks[stage] = withoutSockshim(hs, binary)
		}
	})
}

func withoutSockshim(hs []specs.Hook, binary string) []specs.Hook {
	var out []specs.Hook
	for _, h := range hs {
		if h.Path != binary {
			out = append(out, h)
		}
	}
	return out
}

// editHooks rewrites only the "hooks" member of config.json.
func editHooks(bundle string, edit func(map[string][]specs.Hook)) error {
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read bundle config: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("bundle config %s: %w", path, err)
	}
	hooks := map[string][]specs.Hook{}
	if raw, ok := doc["hooks"]; ok {
		if err := json.Unmarshal(raw, &hooks); err != nil {
			return fmt.Errorf("hooks of %s: %w", path, err)
		}
	}
	edit(hooks)
	for stage, hs := range hooks {
		if len(hs) == 0 {
			delete(hooks, stage)
		}
	}
	if len(hooks) == 0 {
		delete(doc, "hooks")
	} else {
		raw, err := json.Marshal(hooks)
		if err != nil {
			return err
		}
		doc["hooks"] = raw
	}
	out, err := json.MarshalIndent(doc, "", "\t")
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, append(out, '\n'), info.Mode().Perm())
}
