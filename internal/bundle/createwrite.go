package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// write downloads the blobs concurrently into temporary files and appends
// each to the archive as soon as it is complete. At most 2×Jobs blobs wait on
// disk at once, so temporary space stays bounded by the largest blobs, not by
// the bundle.
func (b *builder) write(ctx context.Context) (res *CreateResult, err error) {
	blobs := b.sortedBlobs()
	var total int64
	for _, s := range blobs {
		total += s.desc.Size
	}
	b.man.Blobs, b.man.Size = len(blobs)+len(b.small), total
	for _, s := range b.small {
		b.man.Size += int64(len(s))
	}
	w, err := newArchiveWriter(b.opts.Output, b.opts.Compress, b.opts.PartSize, b.man.Created)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			w.abort()
		}
	}()

	type fetched struct {
		s    *blobSrc
		path string
	}
	jobs := b.opts.Jobs
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan fetched)
	slots := make(chan struct{}, 2*jobs)
	writeErr := make(chan error, 1)
	go func() {
		var werr error
		for f := range ready {
			if werr == nil {
				werr = addFileFrom(w, blobPrefix+f.s.desc.Digest.Hex, f.s.desc.Size, f.path, f.s.desc.Digest.Hex)
				if werr != nil {
					cancel()
				}
			}
			if f.s.file == "" {
				os.Remove(f.path)
			}
			<-slots
		}
		writeErr <- werr
	}()
	b.opts.Progress.begin("downloading", len(blobs), total)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
loop:
	for _, s := range blobs {
		select {
		case slots <- struct{}{}:
		case <-gctx.Done():
			break loop
		}
		g.Go(func() error {
			path, err := b.download(gctx, s)
			if err != nil {
				<-slots
				return err
			}
			select {
			case ready <- fetched{s, path}:
				b.opts.Progress.item(fmt.Sprintf("%s %s", s.desc.Digest, humanBytes(s.desc.Size)))
				return nil
			case <-gctx.Done():
				if s.file == "" {
					os.Remove(path)
				}
				<-slots
				return gctx.Err()
			}
		})
	}
	gerr := g.Wait()
	close(ready)
	werr := <-writeErr
	b.opts.Progress.end()
	if werr != nil {
		return nil, werr
	}
	if gerr != nil {
		return nil, gerr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := b.writeMeta(w); err != nil {
		return nil, err
	}
	files, sums, agg, err := w.finish()
	if err != nil {
		return nil, err
	}
	committed = true
	if err := writeSidecar(b.opts.Output, files, sums); err != nil {
		return nil, err
	}
	files = append(files, sidecarName(b.opts.Output))
	man := b.man
	return &CreateResult{Files: files, Aggregate: agg, Manifest: &man}, nil
}

// writeMeta writes manifests, configs and the layout and bundle metadata.
func (b *builder) writeMeta(w *archiveWriter) error {
	hs := make([]v1.Hash, 0, len(b.small))
	for h := range b.small {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Hex < hs[j].Hex })
	for _, h := range hs {
		data := b.small[h]
		if err := w.add(blobPrefix+h.Hex, int64(len(data)), bytes.NewReader(data), h.Hex); err != nil {
			return err
		}
	}
	if err := w.addBytes(ociLayoutName, []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	idx, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: b.top})
	if err != nil {
		return err
	}
	if err := w.addBytes(indexName, idx); err != nil {
		return err
	}
	man, err := json.MarshalIndent(b.man, "", "  ")
	if err != nil {
		return err
	}
	if err := w.addBytes(manifestName, man); err != nil {
		return err
	}
	return w.addBytes(readmeName, []byte(b.man.Text()))
}

func addFileFrom(w *archiveWriter, name string, size int64, path, sum string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return w.add(name, size, f, sum)
}

// download fetches one blob into a temporary file, checking size and digest.
func (b *builder) download(ctx context.Context, s *blobSrc) (string, error) {
	if s.file != "" {
		return s.file, nil
	}
	rc, err := b.openSource(ctx, s)
	if err != nil {
		return "", fmt.Errorf("blob %s: %w", s.desc.Digest, err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(b.tmp, "blob-")
	if err != nil {
		return "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), progressReader{io.LimitReader(rc, s.desc.Size+1), b.opts.Progress})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != s.desc.Size {
		err = fmt.Errorf("got %d bytes, descriptor says %d", n, s.desc.Size)
	}
	if err == nil && hex.EncodeToString(h.Sum(nil)) != s.desc.Digest.Hex {
		err = fmt.Errorf("content does not match its digest")
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("blob %s: %w", s.desc.Digest, err)
	}
	return f.Name(), nil
}

// splitLocalRef splits "team/app:tag" of an image read from a layout.
func splitLocalRef(ref string) (repo, tag string, err error) {
	repo, tag = ref, "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, tag = ref[:i], ref[i+1:]
	}
	if err := checkRepoPath(repo); err != nil {
		return "", "", fmt.Errorf("image %s: %w", ref, err)
	}
	if !validTag(tag) {
		return "", "", fmt.Errorf("image %s: invalid tag %q", ref, tag)
	}
	return repo, tag, nil
}

// findInLayout finds ref in an OCI layout by its ref.name annotation (full
// reference or tag); a layout holding one manifest needs no name.
func findInLayout(dir, ref string) (layout.Path, v1.Descriptor, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return "", v1.Descriptor{}, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return "", v1.Descriptor{}, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return "", v1.Descriptor{}, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	_, tag, _ := splitLocalRef(ref)
	for _, d := range im.Manifests {
		if n := d.Annotations["org.opencontainers.image.ref.name"]; n == ref || n == tag {
			return lp, d, nil
		}
	}
	if len(im.Manifests) == 1 {
		return lp, im.Manifests[0], nil
	}
	return "", v1.Descriptor{}, fmt.Errorf("OCI layout %s: no manifest named %s", dir, ref)
}

func readLayoutBlob(lp layout.Path, h v1.Hash) ([]byte, error) {
	rc, err := lp.Blob(h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxMetaSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMetaSize || digestOf(b) != h.String() {
		return nil, fmt.Errorf("blob %s in layout: too large or content does not match its digest", h)
	}
	return b, nil
}
