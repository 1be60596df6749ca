package bundle

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Bundle is an opened bundle whose metadata has been checked: every file is
// listed in checksums.sha256, metadata files match their checksums, and every
// blob a manifest refers to is present with the size the manifest says.
// Blob contents are checked when they are read (Verify reads them all).
type Bundle struct {
	Path      string
	Parts     []string
	Manifest  *Manifest
	Index     v1.IndexManifest
	Aggregate string
	Size      int64 // bytes on disk, all parts

	mra       *multiReaderAt
	arc       *archive
	sums      map[string]string
	manifests map[v1.Hash][]byte
}

// Open opens a bundle and checks its metadata.
func Open(path string) (*Bundle, error) {
	_, parts, err := findParts(path)
	if err != nil {
		return nil, err
	}
	mra, err := openParts(parts)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Path: path, Parts: parts, mra: mra, Size: mra.size, manifests: map[v1.Hash][]byte{}}
	if err := b.load(); err != nil {
		mra.Close()
		// A damaged part often shows up as a confusing structural error;
		// the sidecar, when present, names the part instead.
		if serr := checkSidecar(path); serr != nil {
			return nil, fmt.Errorf("%w (%v)", serr, err)
		}
		return nil, err
	}
	return b, nil
}

// Close releases the bundle's files.
func (b *Bundle) Close() error { return b.mra.Close() }

func (b *Bundle) load() error {
	arc, err := openArchive(b.mra, b.mra.size)
	if err != nil {
		return err
	}
	arc.partAt = b.mra.partAt
	b.arc = arc
	raw, err := arc.readSmall(checksumsName)
	if err != nil {
		return fmt.Errorf("%w (bundle incomplete?)", err)
	}
	if b.sums, err = parseChecksums(raw); err != nil {
		return err
	}
	s := sha256.Sum256(raw)
	b.Aggregate = hex.EncodeToString(s[:])
	for _, n := range arc.order {
		if _, ok := b.sums[n]; !ok && n != checksumsName {
			return fmt.Errorf("bundle entry %q: unexpected file, not in %s", n, checksumsName)
		}
	}
	for n := range b.sums {
		if _, ok := arc.entries[n]; !ok {
			return fmt.Errorf("bundle entry %q: missing (listed in %s)", n, checksumsName)
		}
	}
	meta := map[string][]byte{}
	for _, n := range []string{ociLayoutName, indexName, manifestName} {
		data, err := b.readChecked(n)
		if err != nil {
			return err
		}
		meta[n] = data
	}
	if !bytes.Contains(meta[ociLayoutName], []byte(`"imageLayoutVersion"`)) {
		return fmt.Errorf("bundle entry %q: not an OCI layout marker", ociLayoutName)
	}
	if err := json.Unmarshal(meta[indexName], &b.Index); err != nil {
		return fmt.Errorf("bundle entry %q: %w", indexName, err)
	}
	if b.Manifest, err = ParseManifest(meta[manifestName]); err != nil {
		return err
	}
	return b.checkStructure()
}

// readChecked reads a small entry and checks it against checksums.sha256.
func (b *Bundle) readChecked(name string) ([]byte, error) {
	data, err := b.arc.readSmall(name)
	if err != nil {
		return nil, err
	}
	s := sha256.Sum256(data)
	if hex.EncodeToString(s[:]) != b.sums[name] {
		return nil, fmt.Errorf("bundle entry %q: altered (sha256 does not match %s)", name, checksumsName)
	}
	return data, nil
}

// parseChecksums reads sha256sum output; anything else is refused.
func parseChecksums(raw []byte) (map[string]string, error) {
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	line := 0
	for sc.Scan() {
		line++
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || !isHex64(sum) {
			return nil, fmt.Errorf("%s line %d: malformed", checksumsName, line)
		}
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", checksumsName, line, err)
		}
		if name == checksumsName {
			return nil, fmt.Errorf("%s line %d: lists itself", checksumsName, line)
		}
		if _, dup := sums[name]; dup {
			return nil, fmt.Errorf("%s line %d: %s listed twice", checksumsName, line, name)
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", checksumsName, err)
	}
	return sums, nil
}

// checkStructure follows index.json down to every blob and checks the
// manifest tells the truth about what the layout holds.
func (b *Bundle) checkStructure() error {
	byRef := map[string]v1.Descriptor{}
	for _, d := range b.Index.Manifests {
		if err := b.walkDesc(d, 0); err != nil {
			return err
		}
		byRef[d.Annotations["org.opencontainers.image.ref.name"]] = d
	}
	check := func(kind, ref, digest string) error {
		d, ok := byRef[ref]
		if !ok {
			return fmt.Errorf("%s: %s %s is not in %s", manifestName, kind, ref, indexName)
		}
		if d.Digest.String() != digest {
			return fmt.Errorf("%s: %s %s has digest %s, %s says %s", manifestName, kind, ref, digest, indexName, d.Digest)
		}
		return nil
	}
	for _, im := range b.Manifest.Images {
		if err := check("image", im.Ref(), im.Digest); err != nil {
			return err
		}
	}
	for _, c := range b.Manifest.Charts {
		if err := check("chart", c.Repository+":"+chartTag(c.Version), c.Digest); err != nil {
			return err
		}
	}
	if n := len(b.Manifest.Images) + len(b.Manifest.Charts); n != len(b.Index.Manifests) {
		return fmt.Errorf("%s lists %d images and charts, %s holds %d", manifestName, n, indexName, len(b.Index.Manifests))
	}
	return nil
}

func (b *Bundle) walkDesc(d v1.Descriptor, depth int) error {
	if depth > 4 {
		return fmt.Errorf("%s: indexes nested too deep", d.Digest)
	}
	if d.Digest.Algorithm != "sha256" || !isHex64(d.Digest.Hex) {
		return fmt.Errorf("descriptor digest %q not supported", d.Digest)
	}
	n := blobPrefix + d.Digest.Hex
	e, ok := b.arc.entries[n]
	if !ok {
		return fmt.Errorf("blob %s is missing (referenced by a manifest)", n)
	}
	if e.Size != d.Size {
		return fmt.Errorf("blob %s: %d bytes, its descriptor says %d", n, e.Size, d.Size)
	}
	if !d.MediaType.IsIndex() && !d.MediaType.IsImage() {
		return nil // config or layer: a leaf
	}
	if _, seen := b.manifests[d.Digest]; seen {
		return nil
	}
	raw, err := b.readChecked(n)
	if err != nil {
		return err
	}
	if digestOf(raw) != d.Digest.String() {
		return fmt.Errorf("blob %s: content does not match its name", n)
	}
	b.manifests[d.Digest] = raw
	if d.MediaType.IsIndex() {
		var idx v1.IndexManifest
		if err := json.Unmarshal(raw, &idx); err != nil {
			return fmt.Errorf("blob %s: %w", n, err)
		}
		for _, c := range idx.Manifests {
			if err := b.walkDesc(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("blob %s: %w", n, err)
	}
	for _, l := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if len(l.URLs) > 0 {
			continue
		}
		l.MediaType = "leaf" // a layer is never followed, whatever it claims
		if err := b.walkDesc(l, depth+1); err != nil {
			return err
		}
	}
	return nil
}
