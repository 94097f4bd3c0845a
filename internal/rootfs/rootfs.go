// Package rootfs builds the minimal container root filesystem the tests,
// the demo and the benchmark run: busybox-static with its applets, and the
// mount points for the host's /usr, bind-mounted read-only. No image
// registry is involved.
package rootfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Applets are the busybox commands linked into /bin.
var Applets = []string{"sh", "sleep", "cat", "httpd", "wget", "echo", "ls", "true"}

// Build makes the root filesystem in dir.
func Build(dir string) error {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("busybox-static is not installed (scripts/deps.sh installs it): %w", err)
	}
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc", "usr", "run", "www", "helper", "var/tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	for _, applet := range Applets {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			return err
		}
	}
	// Debian is merged-/usr: /lib and /lib64 live under /usr.
	for _, l := range []string{"lib", "lib64"} {
		if err := os.Symlink("usr/"+l, filepath.Join(dir, l)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0:root:/:/bin/sh\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "etc", "group"), []byte("root:x:0:\n"), 0o644)
}
