package bundle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
)

// A split bundle FILE is stored as FILE.000, FILE.001, ... so that each part
// fits a transfer medium; read back they are one stream.

func partName(base string, i int) string { return fmt.Sprintf("%s.%03d", base, i) }

// findParts returns the physical files that make up the bundle named path:
// path itself, or path.000, path.001, ... Naming path.000 works too.
func findParts(path string) (base string, parts []string, err error) {
	base = strings.TrimSuffix(path, ".000")
	if base == path {
		if fi, err := os.Lstat(path); err == nil {
			if !fi.Mode().IsRegular() {
				return "", nil, fmt.Errorf("%s: not a regular file", path)
			}
			return base, []string{path}, nil
		}
	}
	for i := 0; ; i++ {
		p := partName(base, i)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", nil, err
		}
		if !fi.Mode().IsRegular() {
			return "", nil, fmt.Errorf("%s: not a regular file", p)
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "", nil, fmt.Errorf("%s: no such bundle (neither the file nor %s exists)", path, partName(base, 0))
	}
	return base, parts, nil
}

// multiReaderAt reads a sequence of files as one. It names the part a short
// read happened in, so a truncated part is reported by its file name.
type multiReaderAt struct {
	files  []*os.File
	names  []string
	starts []int64 // offset of each part in the whole
	size   int64
}

func openParts(names []string) (*multiReaderAt, error) {
	m := &multiReaderAt{names: names}
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			m.Close()
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			m.Close()
			return nil, err
		}
		m.files = append(m.files, f)
		m.starts = append(m.starts, m.size)
		m.size += fi.Size()
	}
	return m, nil
}

func (m *multiReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	n := 0
	for len(p) > 0 {
		if off >= m.size {
			return n, io.EOF
		}
		i := sort.Search(len(m.starts), func(i int) bool { return m.starts[i] > off }) - 1
		end := m.size
		if i+1 < len(m.starts) {
			end = m.starts[i+1]
		}
		want := min(int64(len(p)), end-off)
		k, err := m.files[i].ReadAt(p[:want], off-m.starts[i])
		n += k
		off += int64(k)
		p = p[k:]
		if err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
		if int64(k) < want {
			return n, fmt.Errorf("%s: short read (file changed while reading?)", m.names[i])
		}
	}
	return n, nil
}

// partAt names the file holding byte off, for error messages.
func (m *multiReaderAt) partAt(off int64) string {
	if len(m.names) == 0 {
		return ""
	}
	i := sort.Search(len(m.starts), func(i int) bool { return m.starts[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	return m.names[i]
}

func (m *multiReaderAt) Close() error {
	var first error
	for _, f := range m.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
