package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fixture is a set of small images that share base layers, plus one
// multi-platform index, as a real set of images does.
type fixture struct {
	images map[string]v1.Image // "team/app-a:1.0" -> image
	index  map[string]v1.ImageIndex
}

func mustLayer(t testing.TB, size int64) v1.Layer {
	t.Helper()
	l, err := random.Layer(size, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mkImage(t testing.TB, arch string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// newFixture builds images; big is the size of the largest layer.
func newFixture(t testing.TB, big int64) *fixture {
	base1, base2 := mustLayer(t, big), mustLayer(t, 300<<10)
	f := &fixture{images: map[string]v1.Image{}, index: map[string]v1.ImageIndex{}}
	f.images["team/app-a:1.0"] = mkImage(t, "amd64", base1, base2, mustLayer(t, 200<<10))
	f.images["team/app-b:1.0"] = mkImage(t, "amd64", base1, mustLayer(t, 100<<10))
	f.images["team/app-c:2.1"] = mkImage(t, "amd64", base1, base2, mustLayer(t, 150<<10))
	f.images["tools/tool:1.0"] = mkImage(t, "amd64", mustLayer(t, 50<<10))
	amd, arm := mkImage(t, "amd64", base2, mustLayer(t, 120<<10)), mkImage(t, "arm64", base2, mustLayer(t, 110<<10))
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	f.index["team/multi:1.0"] = idx
	return f
}

// push writes the fixture to a registry at host.
func (f *fixture) push(t testing.TB, host string, rt http.RoundTripper) {
	t.Helper()
	opts := []remote.Option{remote.WithTransport(rt)}
	for ref, img := range f.images {
		r, err := name.ParseReference(host + "/" + ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img, opts...); err != nil {
			t.Fatal(err)
		}
	}
	for ref, idx := range f.index {
		r, err := name.ParseReference(host + "/" + ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(r, idx, opts...); err != nil {
			t.Fatal(err)
		}
	}
}

// writeLayout writes the fixture's images (not the index) to an OCI layout.
func (f *fixture) writeLayout(t testing.TB, dir string) {
	t.Helper()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for ref, img := range f.images {
		if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
			t.Fatal(err)
		}
	}
}

func digestString(t testing.TB, d interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// layoutBundle makes a bundle of the fixture's images from an OCI layout,
// with no registry involved.
func layoutBundle(t testing.TB, f *fixture, out string, opts CreateOptions) *CreateResult {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	f.writeLayout(t, dir)
	spec := &Spec{Name: "test", Registry: "registry.internal/proj"}
	for ref := range f.images {
		spec.Images = append(spec.Images, ImageSpec{Ref: ref, Layout: dir})
	}
	opts.Output = out
	res, err := Create(context.Background(), spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// rewriteTar copies a plain bundle, letting edit change, drop (return nil)
// or add entries; it stands in for someone tampering with a bundle.
func rewriteTar(t testing.TB, in, out string, edit func(h *tar.Header, data []byte) []byte, extra ...tarEntry) {
	t.Helper()
	src, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(src)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if data = edit(h, data); data == nil {
			continue
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	for _, e := range extra {
		if err := tw.WriteHeader(&e.h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

type tarEntry struct {
	h    tar.Header
	data []byte
}

// requireTool finds a program the test needs, skipping (or failing when
// ENCLAVE_REQUIRE_SERVICES=1) when it is missing.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("ENCLAVE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s not found on PATH", name)
		}
		t.Skipf("%s not found on PATH", name)
	}
	return p
}

func mustHash(t testing.TB, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
