package bundle

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FuzzParseManifest: whatever the bytes, ParseManifest returns an error or a
// manifest that passes its own checks, and never panics.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":1,"created":"2025-01-01T00:00:00Z","images":[{"source":"r/a:1","repository":"a","tag":"1","digest":"sha256:` + strings.Repeat("a", 64) + `","mediaType":"x","size":1}],"blobs":1,"size":1}`))
	f.Add([]byte(`{"schemaVersion":1,"created":"2025-01-01T00:00:00Z","images":[],"charts":[{"name":"c","version":"1.0.0+x","source":"s","repository":"charts/c","digest":"sha256:` + strings.Repeat("b", 64) + `","size":2}],"blobs":0,"size":0}`))
	f.Add([]byte(`{"schemaVersion":2}`))
	f.Add([]byte(`{"schemaVersion":1,"images":[{"repository":"../etc","digest":"sha256:00"}]}`))
	f.Add([]byte(`{"schemaVersion":1,"unknown":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		if err := m.validate(); err != nil {
			t.Fatalf("accepted a manifest that fails validation: %v", err)
		}
		for _, im := range m.Images {
			if strings.Contains(im.Repository, "..") && checkRepoPath(im.Repository) != nil {
				t.Fatalf("accepted repository %q", im.Repository)
			}
		}
		_ = m.Text()
	})
}

// FuzzTarReader: the tar reader indexes or walks any bytes without panicking,
// and every entry it accepts has a safe name, a regular type and a size
// inside the archive.
func FuzzTarReader(f *testing.F) {
	for _, seed := range tarSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ra := bytes.NewReader(b)
		a, err := openArchive(ra, int64(len(b)))
		if err != nil {
			return
		}
		for _, n := range a.order {
			e := a.entries[n]
			if checkName(n) != nil {
				t.Fatalf("accepted unsafe name %q", n)
			}
			if !a.compressed && (e.data < 0 || e.data+e.Size > int64(len(b))) {
				t.Fatalf("entry %q outside the archive", n)
			}
			if rc, _, err := a.open(n); err == nil {
				io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
				rc.Close()
			}
		}
		_ = a.walk(func(name string, size int64, r io.Reader) error {
			if checkName(name) != nil {
				t.Fatalf("walk accepted unsafe name %q", name)
			}
			_, err := io.Copy(io.Discard, io.LimitReader(r, 1<<20))
			return err
		})
	})
}

func tarSeeds(f *testing.F) [][]byte {
	mk := func(hs ...tar.Header) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range hs {
			h := h
			data := bytes.Repeat([]byte("x"), int(h.Size))
			tw.WriteHeader(&h)
			tw.Write(data)
		}
		tw.Close()
		return buf.Bytes()
	}
	seeds := [][]byte{
		mk(tar.Header{Name: "index.json", Typeflag: tar.TypeReg, Size: 2}),
		mk(tar.Header{Name: "../x", Typeflag: tar.TypeReg, Size: 1}),
		mk(tar.Header{Name: "oci-layout", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}),
		mk(tar.Header{Name: "blobs/sha256/" + strings.Repeat("0", 64), Typeflag: tar.TypeReg, Size: 5},
			tar.Header{Name: "blobs/sha256/" + strings.Repeat("0", 64), Typeflag: tar.TypeReg, Size: 5}),
	}
	// Real bundles, plain and compressed, small enough for the fuzzer.
	dir := f.TempDir()
	for i, compress := range []bool{false, true} {
		out := filepath.Join(dir, "seed"+string(rune('0'+i)))
		fixt := &fixture{images: map[string]v1.Image{"a/b:1": mkImage(f, "amd64", mustLayer(f, 512))}}
		layoutBundle(f, fixt, out, CreateOptions{Compress: compress})
		b, err := os.ReadFile(out)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}
