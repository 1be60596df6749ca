package bundle

import (
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// pushBlob puts one blob into every repository that needs it: one upload,
// then cross-repository mounts, which cost the registry a link, not a copy.
func (p *pusher) pushBlob(ctx context.Context, h v1.Hash, size int64, repos []string) error {
	digest := h.String()
	p.mu.Lock()
	from := p.holder[digest]
	p.mu.Unlock()
	if from == "" {
		from = p.j.holder(digest)
	}
	for _, repo := range repos {
		if p.j.hasBlob(repo, digest) {
			p.count(&p.res.BlobsPresent)
			from = repo
			continue
		}
		loc := ""
		if from != "" {
			mounted, l, err := p.c.startUpload(ctx, repo, digest, from)
			if err != nil {
				return fmt.Errorf("blob %s: mount into %s: %w", digest, repo, err)
			}
			if mounted {
				p.count(&p.res.BlobsMounted)
				if err := p.done(repo, digest); err != nil {
					return err
				}
				continue
			}
			loc = l // the registry opened an upload instead
		} else if _, resumable := p.j.partialUpload(repo, digest); !resumable {
			ok, err := p.c.headBlob(ctx, repo, digest)
			if err != nil {
				return fmt.Errorf("blob %s in %s: %w", digest, repo, err)
			}
			if ok {
				p.count(&p.res.BlobsPresent)
				if err := p.done(repo, digest); err != nil {
					return err
				}
				from = repo
				continue
			}
		}
		if err := p.upload(ctx, repo, h, size, loc); err != nil {
			return fmt.Errorf("blob %s into %s: %w", digest, repo, err)
		}
		if err := p.done(repo, digest); err != nil {
			return err
		}
		from = repo
	}
	p.opts.Progress.item(fmt.Sprintf("%s %s", digest, humanBytes(size)))
	return nil
}

func (p *pusher) done(repo, digest string) error {
	if err := p.j.blobDone(repo, digest); err != nil {
		return err
	}
	p.hook("blob", repo, digest)
	return nil
}

func (p *pusher) count(n *int) {
	p.mu.Lock()
	*n++
	p.mu.Unlock()
}

// upload sends a blob in chunks, journaling each acknowledged chunk. When the
// journal holds an unfinished upload of this blob, the registry is asked how
// much it kept and the upload continues from there.
func (p *pusher) upload(ctx context.Context, repo string, h v1.Hash, size int64, loc string) error {
	digest := h.String()
	var off int64
	if rec, ok := p.j.partialUpload(repo, digest); ok {
		if loc != "" {
			p.c.cancelUpload(ctx, loc)
		}
		n, l, err := p.c.uploadStatus(ctx, rec.Location)
		if err == nil && n >= 0 && n <= size {
			off, loc = n, l
			p.count(&p.res.BlobsResumed)
		} else {
			loc = "" // expired or unknown: start again
		}
	}
	if loc == "" {
		var err error
		if _, loc, err = p.c.startUpload(ctx, repo, digest, ""); err != nil {
			return err
		}
	}
	name := blobPrefix + h.Hex
	e, ok := p.b.arc.entries[name]
	if !ok || e.Size != size {
		return fmt.Errorf("bundle: %s missing or of the wrong size", name)
	}
	// Plain bundles are read in place, chunk by chunk, with no copy; a
	// compressed one is decompressed from the frame holding this blob.
	var stream io.Reader
	if p.b.arc.compressed {
		rc, _, err := p.b.arc.open(name)
		if err != nil {
			return err
		}
		defer rc.Close()
		if _, err := io.CopyN(io.Discard, rc, off); err != nil {
			return p.b.arc.truncated(name, e.data, err)
		}
		stream = rc
	}
	chunkAt := func(off, n int64) io.Reader {
		if stream != nil {
			return progressReader{io.LimitReader(stream, n), p.opts.Progress}
		}
		return io.NewSectionReader(p.b.arc.ra, e.data+off, n)
	}
	// The registry checks the digest when the upload is committed; its
	// refusal is turned into a message naming the bundle entry.
	refused := func(err error) error {
		if re, ok := err.(*registryError); ok && re.status == 400 {
			return fmt.Errorf("bundle entry %q: content does not match its digest (%w)", name, err)
		}
		return err
	}
	for off < size {
		n := min(p.opts.ChunkSize, size-off)
		if off == 0 && n == size {
			// A blob that fits one chunk goes in one request.
			if err := p.c.commit(ctx, loc, digest, chunkAt(0, n), n); err != nil {
				return refused(err)
			}
			p.uploaded(n)
			return nil
		}
		var err error
		if loc, err = p.c.patch(ctx, loc, chunkAt(off, n), off, n); err != nil {
			return err
		}
		off += n
		p.bytes.Add(n)
		if stream == nil {
			p.opts.Progress.add(n)
		}
		if err := p.j.chunkDone(repo, digest, loc, off); err != nil {
			return err
		}
		p.hook("chunk", repo, digest)
	}
	if err := p.c.commit(ctx, loc, digest, nil, 0); err != nil {
		return refused(err)
	}
	p.count(&p.res.BlobsUploaded)
	return nil
}

func (p *pusher) uploaded(n int64) {
	p.bytes.Add(n)
	if !p.b.arc.compressed {
		p.opts.Progress.add(n)
	}
	p.count(&p.res.BlobsUploaded)
}
