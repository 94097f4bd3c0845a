package oci

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sockshim/sockshim/internal/fsutil"
)

// HooksDir is where podman and CRI-O look for hook files shipped by
// packages; files of the same name in /etc/containers/oci/hooks.d mask them.
const HooksDir = "/usr/share/containers/oci/hooks.d"

// HooksFileName is the name of sockshim's hooks.d file.
const HooksFileName = "sockshim.json"

// HooksFile is a hooks.d file of oci-hooks(5), version 1.0.0.
type HooksFile struct {
	Version string     `json:"version"`
	Hook    specs.Hook `json:"hook"`
	When    When       `json:"when"`
	Stages  []string   `json:"stages"`
}

// When says which containers get the hook. All its conditions must match;
// annotation keys and values are anchored regular expressions.
type When struct {
	Always      *bool             `json:"always,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// annotationTrigger matches a container carrying either sockshim
// annotation, with any value (the hook itself validates the value).
var annotationTrigger = map[string]string{`^io\.sockshim\.(ports|bypass)$`: `.*`}

// NewHooksFile describes sockshim as a prestart and poststop hook of every
// container with a sockshim annotation. binary must be absolute; args are
// extra arguments for `sockshim hook` (global flags such as --bpffs).
func NewHooksFile(binary string, args ...string) (*HooksFile, error) {
	if !filepath.IsAbs(binary) {
		return nil, fmt.Errorf("hook path %q is not absolute", binary)
	}
	return &HooksFile{
		Version: "1.0.0",
		Hook:    specs.Hook{Path: binary, Args: append([]string{filepath.Base(binary), "hook"}, args...)},
		When:    When{Annotations: annotationTrigger},
		Stages:  []string{"prestart", "poststop"},
	}, nil
}

// WriteHooksFile writes h as dir/sockshim.json, atomically.
func WriteHooksFile(dir string, h *HooksFile) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create hooks directory %s: %w", dir, err)
	}
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, HooksFileName)
	return path, fsutil.WriteFileAtomic(path, append(data, '\n'), 0o644)
}
