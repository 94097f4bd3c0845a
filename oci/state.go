package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// maxStateSize bounds what is read from a hook's stdin; a state is a few
// hundred bytes plus annotations.
const maxStateSize = 16 << 20

// ReadState reads the OCI state a runtime writes on a hook's stdin. It reads
// to the end (a runtime may block until it has written everything) and
// accepts the older "bundlePath" key for "bundle".
func ReadState(r io.Reader) (*specs.State, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxStateSize+1))
	if err != nil {
		return nil, fmt.Errorf("read OCI state from stdin: %w", err)
	}
	if len(data) > maxStateSize {
		return nil, fmt.Errorf("OCI state on stdin is larger than %d bytes", maxStateSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("no OCI state on stdin: sockshim hook is run by a container runtime, which writes the container's state there")
	}
	var st struct {
		specs.State
		BundlePath string `json:"bundlePath"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("OCI state on stdin is not a JSON state object: %w", err)
	}
	if st.ID == "" {
		return nil, errors.New("OCI state on stdin has no container id")
	}
	if len(st.ID) > MaxIDLength {
		return nil, fmt.Errorf("OCI state on stdin has a container id of %d bytes (%s): at most %d", len(st.ID), QuotePrefix(st.ID), MaxIDLength)
	}
	if st.Bundle == "" {
		st.Bundle = st.BundlePath
	}
	return &st.State, nil
}

// ReadConfig reads a bundle's config.json.
func ReadConfig(bundle string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("read bundle config: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("bundle config %s: %w", filepath.Join(bundle, "config.json"), err)
	}
	return &spec, nil
}

// MaxIDLength is the longest container id sockshim accepts: ids name its
// records and pins, one path element each (runtimes use 64 hex digits).
const MaxIDLength = 128

// QuotePrefix quotes s for an error line, cut to a readable prefix: a line
// must not grow with what a caller sent.
func QuotePrefix(s string) string {
	const max = 40
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", s[:max])
}
