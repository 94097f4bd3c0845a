package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/rootfs"
)

// Helpers for the end-to-end tests with real runtimes. Container root
// filesystems are built locally: busybox-static and its applets, with the
// host's /usr bind-mounted read-only (for python3 and this test binary's
// libraries). No image registry is involved.

func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed: make test installs it (scripts/deps.sh test)", name)
	}
}

// makeRootfs builds the containers' root filesystem in dir.
func makeRootfs(t *testing.T, dir string) {
	t.Helper()
	if err := rootfs.Build(dir); err != nil {
		t.Fatal(err)
	}
}

// containersConf is the podman configuration this host kind needs.
func containersConf(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../scripts/containers.conf")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testBinary is this test binary, which containers run as a helper (see
// internal/testenv) by bind-mounting it at /helper/test.
func testBinary(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wwwDir makes a directory whose "who" file says name.
func wwwDir(t *testing.T, name string) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "who"), []byte(name+"\n"), 0o644)
	return dir
}

// hostFetch GETs url from the host (this test's own cgroup).
func hostFetch(url string) (string, error) {
	out, err := exec.Command("python3", "-c", fetchPy, url).Output()
	return strings.TrimSpace(string(out)), err
}

// entryFor returns the ls entry whose id starts with id.
func entryFor(entries []lsEntry, id string) (lsEntry, bool) {
	for _, e := range entries {
		if strings.HasPrefix(e.ID, id) {
			return e, true
		}
	}
	return lsEntry{}, false
}

// exchangeResult is what the "exchange" helper prints.
type exchangeResult struct {
	Sent    int64  `json:"sent"`
	Recv    int64  `json:"recv"`
	SentSHA string `json:"sent_sha"`
	RecvSHA string `json:"recv_sha"`
}

// lastJSON decodes the last line of out that parses as v.
func lastJSON(t *testing.T, out string, v any) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if json.Unmarshal([]byte(lines[i]), v) == nil {
			return
		}
	}
	t.Fatalf("no JSON result in output:\n%s", out)
}

// waitOutput polls read until it returns a line containing want.
func waitOutput(t *testing.T, what string, read func() string, want string) string {
	t.Helper()
	var out string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out = read()
		if strings.Contains(out, want) {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last output:\n%s", what, out)
	return ""
}

func checkNothingLeft(t *testing.T, c *cli) {
	t.Helper()
	if left := c.ls(); len(left) != 0 {
		t.Errorf("records left: %+v", left)
	}
	if groups, _ := os.ReadDir(filepath.Join(c.bpffs, "groups")); len(groups) != 0 {
		t.Errorf("links left pinned: %v", groups)
	}
}
