package critest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Image is one image of an archive: its full name and the command it runs
// when a container names none.
type Image struct {
	Name string
	Cmd  []string
}

// The images the tests import: a sandbox ("pause") image that sleeps, and a
// workload image. Both are the busybox root filesystem of internal/rootfs;
// the host's /usr comes in as a read-only CRI mount, for python3 and for the
// test binary's libraries.
var (
	Pause    = Image{Name: "localhost/sockshim/pause:cri", Cmd: []string{"/bin/sleep", "2147483647"}}
	Workload = Image{Name: "localhost/sockshim/busybox:cri", Cmd: []string{"/bin/sh"}}
)

const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int               `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    map[string]string `json:"platform,omitempty"`
}

// layout collects the blobs of an OCI image layout by digest.
type layout map[string][]byte

func (l layout) add(mediaType string, data []byte) descriptor {
	sum := sha256.Sum256(data)
	d := "sha256:" + hex.EncodeToString(sum[:])
	l[d] = data
	return descriptor{MediaType: mediaType, Digest: d, Size: len(data)}
}

func (l layout) addJSON(mediaType string, v any) descriptor {
	data, _ := json.Marshal(v) // maps and slices of strings: cannot fail
	return l.add(mediaType, data)
}

// WriteArchive writes an OCI image archive (the tar of an OCI image layout,
// what `ctr images import` reads) at path: one uncompressed layer holding the
// files under rootfs, shared by one manifest per image.
func WriteArchive(path, rootfs string, images ...Image) error {
	layer, err := tarDir(rootfs)
	if err != nil {
		return fmt.Errorf("image layer from %s: %w", rootfs, err)
	}
	l := layout{}
	layerDesc := l.add(mediaLayer, layer)
	platform := map[string]string{"architecture": "amd64", "os": "linux"}
	var manifests []descriptor
	for _, img := range images {
		config := l.addJSON(mediaConfig, map[string]any{
			"architecture": "amd64", "os": "linux",
			"config": map[string]any{"Cmd": img.Cmd, "Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
			// The layer is uncompressed: its diff id is its digest.
			"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDesc.Digest}},
		})
		m := l.addJSON(mediaManifest, map[string]any{
			"schemaVersion": 2, "mediaType": mediaManifest, "config": config, "layers": []descriptor{layerDesc},
		})
		// containerd names the image after io.containerd.image.name; the
		// OCI ref name is only the tag, as the image spec suggests.
		m.Annotations = map[string]string{"io.containerd.image.name": img.Name, "org.opencontainers.image.ref.name": tagOf(img.Name)}
		m.Platform = platform
		manifests = append(manifests, m)
	}
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediaIndex, "manifests": manifests})
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	files := []struct {
		name string
		data []byte
	}{{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {"index.json", index}}
	for _, d := range slices.Sorted(maps.Keys(l)) {
		files = append(files, struct {
			name string
			data []byte
		}{"blobs/sha256/" + d[len("sha256:"):], l[d]})
	}
	for _, f := range files {
		if err := writeFile(tw, f.name, f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}

func tagOf(name string) string {
	for i := len(name) - 1; i >= 0 && name[i] != '/'; i-- {
		if name[i] == ':' {
			return name[i+1:]
		}
	}
	return "latest"
}

func writeFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// tarDir is the layer: every file, directory and symlink under dir, owned
// by root, in lexical order so that the same tree gives the same digest.
func tarDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		var target string
		if d.Type()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(path); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, target)
		if err != nil {
			return err
		}
		h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime = rel, 0, 0, "", "", time.Unix(0, 0)
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
