package bundle

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// partWriter writes a byte stream into temporary part files next to the
// target and gives them their final names only in commit, so a crash or an
// error never leaves something that looks like a finished bundle.
type partWriter struct {
	base     string
	partSize int64 // 0: one file
	tmp      []string
	sums     []hash.Hash
	f        *os.File
	h        hash.Hash
	inPart   int64
	written  int64
}

func (p *partWriter) open() error {
	f, err := os.CreateTemp(filepath.Dir(p.base), "."+filepath.Base(p.base)+".tmp-*")
	if err != nil {
		return err
	}
	p.f, p.h, p.inPart = f, sha256.New(), 0
	p.tmp = append(p.tmp, f.Name())
	p.sums = append(p.sums, p.h)
	return nil
}

func (p *partWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if p.f == nil || (p.partSize > 0 && p.inPart >= p.partSize) {
			if p.f != nil {
				if err := p.f.Close(); err != nil {
					return n, err
				}
			}
			if err := p.open(); err != nil {
				return n, err
			}
		}
		chunk := b
		if p.partSize > 0 && int64(len(chunk)) > p.partSize-p.inPart {
			chunk = chunk[:p.partSize-p.inPart]
		}
		k, err := p.f.Write(chunk)
		p.h.Write(chunk[:k])
		n += k
		p.inPart += int64(k)
		p.written += int64(k)
		b = b[k:]
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// commit syncs and renames the parts, removes stale parts of an older bundle
// with the same name, and returns the final names with their sha256.
func (p *partWriter) commit() (names, sums []string, err error) {
	if p.f == nil {
		if err := p.open(); err != nil {
			return nil, nil, err
		}
	}
	if err := p.f.Sync(); err != nil {
		return nil, nil, err
	}
	if err := p.f.Close(); err != nil {
		return nil, nil, err
	}
	p.f = nil
	split := p.partSize > 0
	for i, t := range p.tmp {
		final := p.base
		if split {
			final = partName(p.base, i)
		}
		if err := os.Rename(t, final); err != nil {
			return nil, nil, err
		}
		names = append(names, final)
		sums = append(sums, hex.EncodeToString(p.sums[i].Sum(nil)))
	}
	p.tmp = nil
	// A reader concatenates FILE.000, FILE.001, ... until one is missing, so
	// leftovers of an older, longer bundle must go.
	if split {
		os.Remove(p.base)
	}
	for i := 0; ; i++ {
		if split && i < len(names) {
			continue
		}
		if err := os.Remove(partName(p.base, i)); err != nil {
			break
		}
	}
	return names, sums, nil
}

func (p *partWriter) abort() {
	if p.f != nil {
		p.f.Close()
	}
	for _, t := range p.tmp {
		os.Remove(t)
	}
}

// countWriter counts bytes on their way to w.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// archiveWriter writes the bundle's tar stream. Compressed, it starts a new
// zstd frame at every entry and appends an index of the frames in a skippable
// frame, so the file is a plain .tar.zst to any zstd tool and yet a reader can
// seek to any blob without decompressing what comes before it.
type archiveWriter struct {
	parts   *partWriter
	comp    *countWriter // compressed bytes out, when compressing
	enc     *zstd.Encoder
	raw     *countWriter // tar bytes
	tw      *tar.Writer
	mtime   time.Time
	index   []frameEntry
	sums    map[string]string
	size    int64
	entries int
}

func newArchiveWriter(path string, compress bool, partSize int64, mtime time.Time) (*archiveWriter, error) {
	w := &archiveWriter{parts: &partWriter{base: path, partSize: partSize}, mtime: mtime, sums: map[string]string{}}
	var sink io.Writer = w.parts
	if compress {
		w.comp = &countWriter{w: w.parts}
		enc, err := zstd.NewWriter(w.comp, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2))
		if err != nil {
			return nil, err
		}
		w.enc = enc
		sink = enc
	}
	w.raw = &countWriter{w: sink}
	w.tw = tar.NewWriter(w.raw)
	return w, nil
}

// add writes one file. sum is its sha256 in hex when the caller already
// checked it (blobs are named by it); otherwise it is computed here.
func (w *archiveWriter) add(name string, size int64, r io.Reader, sum string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if _, dup := w.sums[name]; dup {
		return fmt.Errorf("bundle: %s written twice", name)
	}
	if err := w.tw.Flush(); err != nil {
		return err
	}
	var fe frameEntry
	if w.enc != nil && w.raw.n > 0 {
		// Close ends the frame; Reset starts the next one on the same output.
		if err := w.enc.Close(); err != nil {
			return err
		}
		w.enc.Reset(w.comp)
	}
	if w.enc != nil {
		fe = frameEntry{Name: name, Size: size, Frame: w.comp.n, Header: w.raw.n}
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: w.mtime, Format: tar.FormatPAX}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	fe.Data = w.raw.n
	var h hash.Hash
	src := r
	if sum == "" {
		h = sha256.New()
		src = io.TeeReader(r, h)
	}
	n, err := io.Copy(w.tw, src)
	if err != nil {
		return fmt.Errorf("bundle: writing %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("bundle: %s: wrote %d bytes, expected %d", name, n, size)
	}
	if h != nil {
		sum = hex.EncodeToString(h.Sum(nil))
	}
	w.sums[name] = sum
	w.size += size
	w.entries++
	if w.enc != nil {
		w.index = append(w.index, fe)
	}
	return nil
}

func (w *archiveWriter) addBytes(name string, b []byte) error {
	return w.add(name, int64(len(b)), strings.NewReader(string(b)), "")
}

// checksumsFile renders checksums.sha256 in sha256sum's format, sorted by name.
func checksumsFile(sums map[string]string) []byte {
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", sums[n], n)
	}
	return []byte(b.String())
}

// finish writes checksums.sha256 as the last entry and commits the parts. The
// aggregate checksum is the sha256 of checksums.sha256, so one value covers
// every file of the bundle.
func (w *archiveWriter) finish() (files, fileSums []string, aggregate string, err error) {
	sums := checksumsFile(w.sums)
	if err := w.addBytes(checksumsName, sums); err != nil {
		return nil, nil, "", err
	}
	if err := w.tw.Close(); err != nil {
		return nil, nil, "", err
	}
	if w.enc != nil {
		if err := w.enc.Close(); err != nil {
			return nil, nil, "", err
		}
		idx, err := encodeFrameIndex(w.index)
		if err != nil {
			return nil, nil, "", err
		}
		if _, err := w.parts.Write(idx); err != nil {
			return nil, nil, "", err
		}
	}
	files, fileSums, err = w.parts.commit()
	if err != nil {
		return nil, nil, "", err
	}
	s := sha256.Sum256(sums)
	return files, fileSums, hex.EncodeToString(s[:]), nil
}

func (w *archiveWriter) abort() {
	if w.enc != nil {
		w.enc.Close()
	}
	w.parts.abort()
}
