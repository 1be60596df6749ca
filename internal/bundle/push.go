package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// PushOptions control Push.
type PushOptions struct {
	Mapping   Mapping
	Registry  RegistryOptions
	Jobs      int    // concurrent blob transfers; default 4
	ChunkSize int64  // upload chunk, the unit of resume; default 32 MiB
	Journal   string // default: next to the bundle, named after the destination
	Report    string // default: next to the journal
	Progress  *Progress

	// hook, in tests, is called after each journaled step.
	hook func(op, repo, digest string)
}

// Pushed is one line of the push report: where an image or chart came from,
// where it is now, and its digest, the same on both sides.
type Pushed struct {
	Kind        string `json:"kind"` // image or chart
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Digest      string `json:"digest"`
}

// PushResult is the push report.
type PushResult struct {
	Registry      string   `json:"registry"`
	Bundle        string   `json:"bundle"` // aggregate checksum
	Items         []Pushed `json:"items"`
	BlobsUploaded int      `json:"blobsUploaded"`
	BlobsMounted  int      `json:"blobsMounted"`
	BlobsPresent  int      `json:"blobsPresent"` // already there, found by HEAD or journal
	BlobsResumed  int      `json:"blobsResumed"`
	BytesUploaded int64    `json:"bytesUploaded"`
	ItemsSkipped  int      `json:"itemsSkipped"` // already at the destination, same digest
	ReportPath    string   `json:"-"`
	Values        string   `json:"-"` // Helm values pointing the charts at the registry
}

// item is one top-level entry (image or chart) on its way.
type item struct {
	desc  v1.Descriptor
	kind  string
	src   string
	repo  string // destination repository path, without host
	ref   string // tag, or digest when untagged
	image *Image
	chart *Chart
	done  bool // already at the destination
}

type pusher struct {
	b      *Bundle
	opts   PushOptions
	c      *regClient
	j      *journal
	res    PushResult
	bytes  atomic.Int64
	mu     sync.Mutex
	holder map[string]string // digest -> a destination repository known to hold it
}

// Push uploads a bundle to a registry. Nothing is uploaded unless the
// preflight passes; every blob of a manifest is in place before the manifest,
// and every child before its index, so a tag never points at something
// incomplete. Blobs already present are skipped, shared ones mounted.
func Push(ctx context.Context, bundlePath string, opts PushOptions) (*PushResult, error) {
	if opts.Jobs <= 0 {
		opts.Jobs = 4
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 32 << 20
	}
	b, err := Open(bundlePath)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	host, _, err := opts.Mapping.split()
	if err != nil {
		return nil, err
	}
	items, err := planItems(b, opts.Mapping)
	if err != nil {
		return nil, err
	}
	if opts.Journal == "" {
		s := sha256.Sum256([]byte(opts.Mapping.Registry))
		opts.Journal = fmt.Sprintf("%s.push-%s.journal", strings.TrimSuffix(bundlePath, ".000"), hex.EncodeToString(s[:4]))
	}
	if opts.Report == "" {
		opts.Report = strings.TrimSuffix(opts.Journal, ".journal") + ".report.json"
	}
	repos := map[string]bool{}
	for _, it := range items {
		repos[it.repo] = true
	}
	c, err := preflight(ctx, host, opts, sortedKeys(repos), items[0].repo, filepath.Dir(opts.Journal))
	if err != nil {
		return nil, err
	}
	j, err := openJournal(opts.Journal, b.Aggregate, opts.Mapping.Registry)
	if err != nil {
		return nil, err
	}
	p := &pusher{b: b, opts: opts, c: c, j: j, holder: map[string]string{}}
	p.res.Registry, p.res.Bundle = opts.Mapping.Registry, "sha256:"+b.Aggregate
	if err := p.run(ctx, items); err != nil {
		j.close()
		return nil, err
	}
	for _, it := range items {
		p.res.Items = append(p.res.Items, Pushed{Kind: it.kind, Source: it.src, Destination: host + "/" + it.repo + refSep(it.ref) + it.ref, Digest: it.desc.Digest.String()})
	}
	p.res.BytesUploaded = p.bytes.Load()
	p.res.Values = helmValues(host, opts.Mapping, b.Manifest, items)
	if err := writeReport(opts.Report, &p.res); err != nil {
		j.close()
		return nil, err
	}
	p.res.ReportPath = opts.Report
	return &p.res, j.remove()
}

func refSep(ref string) string {
	if strings.HasPrefix(ref, "sha256:") {
		return "@"
	}
	return ":"
}

func planItems(b *Bundle, m Mapping) ([]*item, error) {
	byRef := map[string]v1.Descriptor{}
	for _, d := range b.Index.Manifests {
		byRef[d.Annotations["org.opencontainers.image.ref.name"]] = d
	}
	var items []*item
	for i := range b.Manifest.Images {
		im := &b.Manifest.Images[i]
		dest, err := m.Map(im.Repository)
		if err != nil {
			return nil, err
		}
		ref := im.Tag
		if ref == "" {
			ref = im.Digest
		}
		items = append(items, &item{desc: byRef[im.Ref()], kind: "image", src: im.Source, repo: repoPath(dest), ref: ref, image: im})
	}
	for i := range b.Manifest.Charts {
		c := &b.Manifest.Charts[i]
		dest, err := m.Map(c.Repository)
		if err != nil {
			return nil, err
		}
		items = append(items, &item{desc: byRef[c.Repository+":"+chartTag(c.Version)], kind: "chart", src: c.Source, repo: repoPath(dest), ref: chartTag(c.Version), chart: c})
	}
	if len(items) == 0 {
		return nil, errors.New("bundle is empty")
	}
	return items, nil
}

func repoPath(dest string) string { _, p, _ := strings.Cut(dest, "/"); return p }

func (p *pusher) run(ctx context.Context, items []*item) error {
	// 1. Whole items already at the destination with the same digest need
	//    nothing: the registry accepted their manifest, so it has every blob.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.opts.Jobs * 2)
	for _, it := range items {
		g.Go(func() error {
			d, err := p.c.headManifest(gctx, it.repo, it.ref)
			if err != nil {
				return err
			}
			it.done = d == it.desc.Digest.String()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// 2. Which blobs go to which repositories.
	need := map[v1.Hash][]string{}
	sizes := map[v1.Hash]int64{}
	for _, it := range items {
		blobs := map[v1.Hash]int64{}
		p.blobsOf(it.desc, blobs)
		for h, size := range blobs {
			sizes[h] = size
			if it.done {
				p.holder[h.String()] = it.repo
				continue
			}
			need[h] = appendUnique(need[h], it.repo)
		}
		if it.done {
			p.res.ItemsSkipped++
		}
	}
	order := make([]v1.Hash, 0, len(need))
	var total int64
	for h := range need {
		order = append(order, h)
		total += sizes[h]
	}
	sort.Slice(order, func(i, k int) bool { return sizes[order[i]] > sizes[order[k]] })
	// 3. Blobs, largest first, each uploaded once and mounted elsewhere.
	p.opts.Progress.begin("pushing", len(order), total)
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(p.opts.Jobs)
	for _, h := range order {
		g.Go(func() error { return p.pushBlob(gctx, h, sizes[h], need[h]) })
	}
	err := g.Wait()
	p.opts.Progress.end()
	if err != nil {
		return err
	}
	// 4. Manifests, children first, the tag last.
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(p.opts.Jobs * 2)
	for _, it := range items {
		if it.done {
			continue
		}
		g.Go(func() error { return p.pushManifest(gctx, it.repo, it.desc, it.ref, 0) })
	}
	return g.Wait()
}

// blobsOf lists the blobs (configs and layers) under a manifest; manifests
// themselves are PUT, not uploaded as blobs.
func (p *pusher) blobsOf(d v1.Descriptor, out map[v1.Hash]int64) {
	raw := p.b.manifests[d.Digest]
	if d.MediaType.IsIndex() {
		var idx v1.IndexManifest
		if json.Unmarshal(raw, &idx) == nil {
			for _, c := range idx.Manifests {
				p.blobsOf(c, out)
			}
		}
		return
	}
	var m v1.Manifest
	if json.Unmarshal(raw, &m) != nil {
		return
	}
	for _, l := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if len(l.URLs) == 0 {
			out[l.Digest] = l.Size
		}
	}
}

func (p *pusher) pushManifest(ctx context.Context, repo string, d v1.Descriptor, ref string, depth int) error {
	raw := p.b.manifests[d.Digest]
	if d.MediaType.IsIndex() {
		var idx v1.IndexManifest
		if err := json.Unmarshal(raw, &idx); err != nil {
			return err
		}
		for _, c := range idx.Manifests {
			if err := p.pushManifest(ctx, repo, c, c.Digest.String(), depth+1); err != nil {
				return err
			}
		}
	}
	if err := p.c.putManifest(ctx, repo, ref, string(d.MediaType), raw); err != nil {
		return fmt.Errorf("manifest %s in %s: %w", d.Digest, repo, err)
	}
	p.hook("manifest", repo, d.Digest.String())
	return nil
}

func (p *pusher) hook(op, repo, digest string) {
	if p.opts.hook != nil {
		p.opts.hook(op, repo, digest)
	}
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func writeReport(path string, r *PushResult) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
