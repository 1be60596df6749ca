// Package ociimage builds Enclave's own container image from its static
// binary, in process, without Docker or a base image: one layer with the
// binary owned by an unprivileged user, the few files a Go program needs
// (passwd, group, CA bundle, /tmp), and an OCI config. So a bundle of
// Enclave needs nothing from outside, and the image is reproducible from the
// binary and a timestamp.
package ociimage

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// UID and GID the program runs as: not root, and fixed so volume
// permissions can be prepared for it.
const (
	UID = 1000
	GID = 1000
)

// DefaultCABundle is where Debian-like systems keep the CA bundle.
const DefaultCABundle = "/etc/ssl/certs/ca-certificates.crt"

// Options describe the image.
type Options struct {
	Binary   string    // static executable; becomes /enclave
	Version  string    // org.opencontainers.image.version
	Revision string    // org.opencontainers.image.revision
	Source   string    // org.opencontainers.image.source
	Created  time.Time // image and file times; zero: the Unix epoch, for reproducible builds
	// CABundle is copied to /etc/ssl/certs/ca-certificates.crt when it
	// exists; "" means DefaultCABundle, "-" means none.
	CABundle string
	// Arch is the GOARCH of the binary; default the running one.
	Arch string
}

// Build returns the image.
func Build(opts Options) (v1.Image, error) {
	bin, err := os.ReadFile(opts.Binary)
	if err != nil {
		return nil, err
	}
	if err := checkStatic(bin); err != nil {
		return nil, fmt.Errorf("%s: %w", opts.Binary, err)
	}
	if opts.Created.IsZero() {
		opts.Created = time.Unix(0, 0).UTC()
	}
	if opts.Arch == "" {
		opts.Arch = runtime.GOARCH
	}
	var ca []byte
	switch opts.CABundle {
	case "-":
	case "":
		ca, _ = os.ReadFile(DefaultCABundle) // absent is fine: not every builder has one
	default:
		if ca, err = os.ReadFile(opts.CABundle); err != nil {
			return nil, err
		}
	}
	layerTar, err := rootfs(bin, ca, opts.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: opts.Created}, CreatedBy: "enclave image build", Comment: "static binary, passwd, group, CA bundle, /tmp",
	}})
	if err != nil {
		return nil, err
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "enclave",
		"org.opencontainers.image.description": "Self-hosted, air-gappable MLOps control plane and workspace servers",
		"org.opencontainers.image.version":     opts.Version,
		"org.opencontainers.image.revision":    opts.Revision,
		"org.opencontainers.image.source":      opts.Source,
		"org.opencontainers.image.created":     opts.Created.Format(time.RFC3339),
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
	for k, v := range labels {
		if v == "" {
			delete(labels, k)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: opts.Created}
	cf.OS, cf.Architecture = "linux", opts.Arch
	cf.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", UID, GID),
		Entrypoint:   []string{"/enclave"},
		WorkingDir:   "/tmp",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Labels:       labels,
		Env:          []string{"SSL_CERT_FILE=" + DefaultCABundle, "HOME=/tmp"},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	return mutate.Annotations(img, labels).(v1.Image), nil
}

// checkStatic refuses a dynamically linked ELF: with no libc in the image it
// would fail to start, which is better found here than in a cluster.
func checkStatic(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked; build it with CGO_ENABLED=0")
		}
	}
	return nil
}

// rootfs writes the layer: directories first, as unpackers expect.
func rootfs(bin, ca []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	type file struct {
		name     string
		mode     int64
		uid, gid int
		data     []byte
		dir      bool
	}
	files := []file{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nenclave:x:%d:%d:enclave:/tmp:/sbin/nologin\n", UID, GID)},
		{name: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nenclave:x:%d:\n", GID)},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "enclave", mode: 0o755, uid: UID, gid: GID, data: bin},
	}
	if ca != nil {
		files = append(files[:2:2], append([]file{
			{name: "etc/ssl/", mode: 0o755, dir: true},
			{name: "etc/ssl/certs/", mode: 0o755, dir: true},
			{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		}, files[2:]...)...)
	}
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: mtime, Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteLayout writes img into an OCI image layout at dir (created or
// appended to), named ref in its index.
func WriteLayout(img v1.Image, dir, ref string) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return err
		}
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref}))
}

// Push uploads img to ref.
func Push(ctx context.Context, img v1.Image, ref name.Reference, opts ...remote.Option) error {
	return remote.Write(ref, img, append(opts, remote.WithContext(ctx))...)
}
