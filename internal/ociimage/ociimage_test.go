package ociimage_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/enclave-mlops/enclave/internal/bundle"
	"github.com/enclave-mlops/enclave/internal/ociimage"
	"github.com/enclave-mlops/enclave/internal/registrytest"
)

// staticBinary builds a tiny static Go program to stand in for enclave.
func staticBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\nfunc main() { println(\"hi\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "enclave")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestBuildImage(t *testing.T) {
	bin := staticBinary(t)
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	opts := ociimage.Options{Binary: bin, Version: "1.2.3", Revision: "abc", Created: created}
	img, err := ociimage.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "1000:1000" || len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/enclave" {
		t.Errorf("config user %q entrypoint %v", c.User, c.Entrypoint)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("8080/tcp not exposed: %v", c.ExposedPorts)
	}
	if c.Labels["org.opencontainers.image.version"] != "1.2.3" || c.Labels["org.opencontainers.image.created"] != "2025-03-01T12:00:00Z" {
		t.Errorf("labels %v", c.Labels)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h
		if h.Name == "etc/passwd" {
			b, _ := io.ReadAll(tr)
			if !strings.Contains(string(b), ":1000:1000:") {
				t.Errorf("passwd has no user 1000: %s", b)
			}
		}
	}
	if h := got["enclave"]; h == nil || h.Uid != 1000 || h.Gid != 1000 || h.Mode&0o111 == 0 {
		t.Errorf("/enclave header %+v", h)
	}
	if h := got["tmp/"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode != 0o1777 {
		t.Errorf("/tmp header %+v", h)
	}
	for _, n := range []string{"etc/group", "etc/passwd"} {
		if got[n] == nil {
			t.Errorf("%s missing", n)
		}
	}
	for n := range got {
		if strings.HasPrefix(n, "bin/") {
			t.Errorf("unexpected %s: the image needs no shell", n)
		}
	}
	// Same binary and time, same digest: the build is reproducible.
	again, err := ociimage.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds differ: %s %s", d1, d2)
	}
}

func TestBuildRefusesDynamicBinary(t *testing.T) {
	if _, err := os.Stat("/bin/ls"); err != nil {
		t.Skip("no /bin/ls")
	}
	_, err := ociimage.Build(ociimage.Options{Binary: "/bin/ls"})
	if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Fatalf("dynamic binary: %v", err)
	}
}

// The image goes into a layout, from there into a bundle, and from the
// bundle into a registry, with nothing fetched from outside.
func TestImageIntoBundleAndRegistry(t *testing.T) {
	img, err := ociimage.Build(ociimage.Options{Binary: staticBinary(t), Version: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lay := filepath.Join(dir, "layout")
	if err := ociimage.WriteLayout(img, lay, "enclave-mlops/enclave:0.1.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := layout.FromPath(lay); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "enclave.bundle")
	ctx := context.Background()
	spec := &bundle.Spec{Images: []bundle.ImageSpec{{Ref: "enclave-mlops/enclave:0.1.0", Layout: lay}}}
	if _, err := bundle.Create(ctx, spec, bundle.CreateOptions{Output: out}); err != nil {
		t.Fatal(err)
	}
	reg := registrytest.New(t, registrytest.Options{})
	res, err := bundle.Push(ctx, out, bundle.PushOptions{Mapping: bundle.Mapping{Registry: reg.Host + "/internal"}, Registry: bundle.RegistryOptions{PlainHTTP: true}})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	ref, _ := name.ParseReference(reg.Host + "/internal/enclave-mlops/enclave:0.1.0")
	d, err := remote.Head(ref, remote.WithTransport(reg.Transport()))
	if err != nil || d.Digest != want || len(res.Items) != 1 {
		t.Fatalf("at the registry: %v %v, want %s", d, err, want)
	}
}
