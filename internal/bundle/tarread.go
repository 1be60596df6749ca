package bundle

import (
	"archive/tar"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Names of the files a bundle may hold besides blobs.
const (
	ociLayoutName = "oci-layout"
	indexName     = "index.json"
	manifestName  = "enclave-bundle.json"
	readmeName    = "manifest.txt"
	checksumsName = "checksums.sha256"
	blobPrefix    = "blobs/sha256/"
)

const (
	// maxZstdWindow bounds decoder memory; a frame asking for more was not
	// written by us (the encoder uses a few MiB).
	maxZstdWindow = 64 << 20
	maxMetaSize   = 32 << 20 // manifests and lists; far above any real one
	maxBlobSize   = 1 << 40  // 1 TiB: a size above this is a lie, not a layer
)

func maxEntrySize(name string) int64 {
	if strings.HasPrefix(name, blobPrefix) {
		return maxBlobSize
	}
	return maxMetaSize
}

// checkName accepts only the names a bundle is made of, so nothing read from
// a bundle can name a place outside it.
func checkName(name string) error {
	switch name {
	case ociLayoutName, indexName, manifestName, readmeName, checksumsName:
		return nil
	}
	if strings.HasPrefix(name, "/") || name != path.Clean(name) || strings.Contains(name, "\\") ||
		name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, "/../") {
		return fmt.Errorf("bundle entry %q: path escapes the bundle", name)
	}
	if hex, ok := strings.CutPrefix(name, blobPrefix); ok && isHex64(hex) {
		return nil
	}
	return fmt.Errorf("bundle entry %q: unexpected file (not part of a bundle)", name)
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkHeader refuses links, devices and other non-regular entries and sizes
// that cannot be true.
func checkHeader(h *tar.Header) error {
	switch h.Typeflag {
	case tar.TypeReg:
	case tar.TypeSymlink, tar.TypeLink:
		return fmt.Errorf("bundle entry %q: links are refused", h.Name)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return fmt.Errorf("bundle entry %q: device files are refused", h.Name)
	case tar.TypeDir:
		return fmt.Errorf("bundle entry %q: directories are refused", h.Name)
	default:
		return fmt.Errorf("bundle entry %q: entry type %q refused", h.Name, h.Typeflag)
	}
	if err := checkName(h.Name); err != nil {
		return err
	}
	if h.Size < 0 || h.Size > maxEntrySize(h.Name) {
		return fmt.Errorf("bundle entry %q: size %d out of range", h.Name, h.Size)
	}
	return nil
}

// entry locates a file inside the bundle.
type entry struct {
	Name  string
	Size  int64
	data  int64 // offset of the data in the tar stream
	frame int64 // compressed: offset of the frame holding the header
	skip  int64 // compressed: bytes from frame start to data
}

// archive is an opened bundle file (all its parts) with an index of entries.
type archive struct {
	ra         io.ReaderAt
	size       int64 // bytes of tar (plain) or of zstd frames (compressed)
	compressed bool
	entries    map[string]entry
	order      []string
	partAt     func(off int64) string
}

// openArchive indexes a bundle. Plain tar: by reading the headers and seeking
// over the data. Compressed: from the frame index at the end.
func openArchive(ra io.ReaderAt, size int64) (*archive, error) {
	a := &archive{ra: ra, size: size, entries: map[string]entry{}, partAt: func(int64) string { return "" }}
	var magic [4]byte
	if size >= 4 {
		if _, err := ra.ReadAt(magic[:], 0); err != nil {
			return nil, err
		}
	}
	if binary.LittleEndian.Uint32(magic[:]) == zstdMagic {
		a.compressed = true
		fes, start, err := readFrameIndex(ra, size)
		if err != nil {
			return nil, err
		}
		a.size = start
		for _, fe := range fes {
			a.add(entry{Name: fe.Name, Size: fe.Size, data: fe.Data, frame: fe.Frame, skip: fe.Data - fe.Header})
		}
		return a, nil
	}
	sr := io.NewSectionReader(ra, 0, size)
	tr := tar.NewReader(sr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("bundle: reading tar headers: %w", err)
		}
		if err := checkHeader(h); err != nil {
			return nil, err
		}
		if _, dup := a.entries[h.Name]; dup {
			return nil, fmt.Errorf("bundle entry %q: appears twice", h.Name)
		}
		pos, _ := sr.Seek(0, io.SeekCurrent)
		if pos+h.Size > size {
			return nil, fmt.Errorf("bundle entry %q: truncated (%d bytes declared, %d present)", h.Name, h.Size, size-pos)
		}
		a.add(entry{Name: h.Name, Size: h.Size, data: pos})
	}
	return a, nil
}

func (a *archive) add(e entry) {
	a.entries[e.Name] = e
	a.order = append(a.order, e.Name)
}

// open returns the data of one entry, read straight from the packed file.
func (a *archive) open(name string) (io.ReadCloser, int64, error) {
	e, ok := a.entries[name]
	if !ok {
		return nil, 0, fmt.Errorf("bundle: %s is missing", name)
	}
	if !a.compressed {
		return io.NopCloser(io.NewSectionReader(a.ra, e.data, e.Size)), e.Size, nil
	}
	dec, err := zstd.NewReader(io.NewSectionReader(a.ra, e.frame, a.size-e.frame),
		zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
	if err != nil {
		return nil, 0, err
	}
	if _, err := io.CopyN(io.Discard, dec, e.skip); err != nil {
		dec.Close()
		return nil, 0, fmt.Errorf("bundle: %s: %w", name, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(dec, e.Size), closerFunc(dec.Close)}, e.Size, nil
}

type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }

// readSmall reads a metadata entry whole, refusing one that is too large.
func (a *archive) readSmall(name string) ([]byte, error) {
	rc, size, err := a.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > maxMetaSize {
		return nil, fmt.Errorf("bundle: %s: %d bytes is too large", name, size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("bundle: %s: truncated: %w", name, err)
	}
	return b, nil
}

// walk reads every entry in order, whatever an index claims, checking each
// header. fn must consume r before returning.
func (a *archive) walk(fn func(name string, size int64, r io.Reader) error) error {
	var src io.Reader = io.NewSectionReader(a.ra, 0, a.size)
	cr := &countReader{r: src}
	src = cr
	if a.compressed {
		dec, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return err
		}
		defer dec.Close()
		src = dec
	}
	tr := tar.NewReader(src)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return a.truncated("", cr.n, err)
		}
		if err := checkHeader(h); err != nil {
			return err
		}
		if seen[h.Name] {
			return fmt.Errorf("bundle entry %q: appears twice", h.Name)
		}
		seen[h.Name] = true
		if err := fn(h.Name, h.Size, tr); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return a.truncated(h.Name, cr.n, err)
			}
			return err
		}
	}
}

func (a *archive) truncated(name string, off int64, err error) error {
	where := ""
	if p := a.partAt(off); p != "" {
		where = " (in " + p + ")"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		if name != "" {
			return fmt.Errorf("bundle entry %q: truncated%s", name, where)
		}
		return fmt.Errorf("bundle: truncated%s", where)
	}
	if name != "" {
		return fmt.Errorf("bundle entry %q: %w%s", name, err, where)
	}
	return fmt.Errorf("bundle: %w%s", err, where)
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
