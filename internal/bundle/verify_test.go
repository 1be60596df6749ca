package bundle

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyAcceptsIntactBundle(t *testing.T) {
	f := newFixture(t, 1<<20)
	for _, tc := range []struct {
		name string
		opts CreateOptions
	}{
		{"plain", CreateOptions{}},
		{"zstd", CreateOptions{Compress: true}},
		{"zstd+split", CreateOptions{Compress: true, PartSize: 700 << 10}},
		{"split", CreateOptions{PartSize: 500 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "b.tar")
			res := layoutBundle(t, f, out, tc.opts)
			if tc.opts.PartSize > 0 && len(res.Files) < 3 {
				t.Fatalf("expected several parts, got %v", res.Files)
			}
			b, err := Verify(context.Background(), out, VerifyOptions{Aggregate: res.Aggregate})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if len(b.Manifest.Images) != len(f.images) {
				t.Fatalf("%d images in manifest, want %d", len(b.Manifest.Images), len(f.images))
			}
			for _, im := range b.Manifest.Images {
				if want := digestString(t, f.images[im.Ref()]); im.Digest != want {
					t.Errorf("%s: digest %s, want %s", im.Ref(), im.Digest, want)
				}
			}
			// Every blob once: shared base layers are not repeated.
			unique := map[string]bool{}
			for _, img := range f.images {
				m, _ := img.Manifest()
				unique[m.Config.Digest.Hex] = true
				for _, l := range m.Layers {
					unique[l.Digest.Hex] = true
				}
				unique[digestString(t, img)[7:]] = true
			}
			blobs := 0
			for n := range b.arc.entries {
				if strings.HasPrefix(n, blobPrefix) {
					blobs++
				}
			}
			if blobs != len(unique) {
				t.Fatalf("%d blobs in bundle, %d unique in the images", blobs, len(unique))
			}
		})
	}
}

func TestVerifyRefusesTampering(t *testing.T) {
	f := newFixture(t, 256<<10)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar")
	layoutBundle(t, f, good, CreateOptions{})
	b, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	var victim string // the largest layer
	var size int64
	for n, e := range b.arc.entries {
		if strings.HasPrefix(n, blobPrefix) && e.Size > size {
			victim, size = n, e.Size
		}
	}
	b.Close()
	keep := func(*tar.Header, []byte) []byte { return nil }
	_ = keep
	same := func(_ *tar.Header, d []byte) []byte { return d }
	fakeBlob := "blobs/sha256/" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name  string
		edit  func(h *tar.Header, d []byte) []byte
		extra []tarEntry
		want  string // must appear in the error
	}{
		{"byte changed in blob", func(h *tar.Header, d []byte) []byte {
			if h.Name == victim {
				d[len(d)/2] ^= 0x01
			}
			return d
		}, nil, victim},
		{"file removed", func(h *tar.Header, d []byte) []byte {
			if h.Name == victim {
				return nil
			}
			return d
		}, nil, victim},
		{"blob added", same, []tarEntry{{tar.Header{Name: fakeBlob, Typeflag: tar.TypeReg, Size: 3, Mode: 0o644}, []byte("abc")}}, fakeBlob},
		{"unknown file added", same, []tarEntry{{tar.Header{Name: "notes.txt", Typeflag: tar.TypeReg, Size: 2, Mode: 0o644}, []byte("hi")}}, "notes.txt"},
		{"path escape", same, []tarEntry{{tar.Header{Name: "../../etc/passwd", Typeflag: tar.TypeReg, Size: 2, Mode: 0o644}, []byte("hi")}}, "../../etc/passwd"},
		{"symlink", same, []tarEntry{{tar.Header{Name: "index.json.bak", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}, nil}}, "links are refused"},
		{"device", same, []tarEntry{{tar.Header{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, nil}}, "device files are refused"},
		{"manifest lies", func(h *tar.Header, d []byte) []byte {
			if h.Name == manifestName {
				return []byte(strings.Replace(string(d), "team/app-a", "team/app-z", 1))
			}
			return d
		}, nil, manifestName},
		{"truncated", func(h *tar.Header, d []byte) []byte {
			if h.Name == victim {
				return d[:len(d)-10]
			}
			return d
		}, nil, victim},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.tar")
			rewriteTar(t, good, bad, tc.edit, tc.extra...)
			_, err := Verify(context.Background(), bad, VerifyOptions{})
			if err == nil {
				t.Fatal("tampered bundle verified")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

func TestVerifyNamesTruncatedPart(t *testing.T) {
	f := newFixture(t, 1<<20)
	out := filepath.Join(t.TempDir(), "b.tar.zst")
	res := layoutBundle(t, f, out, CreateOptions{Compress: true, PartSize: 400 << 10})
	victim := res.Files[1]
	st, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(victim, st.Size()-1000); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(context.Background(), out, VerifyOptions{})
	if err == nil {
		t.Fatal("bundle with a truncated part verified")
	}
	if !strings.Contains(err.Error(), filepath.Base(victim)) {
		t.Fatalf("error %q does not name the part %s", err, victim)
	}
}
