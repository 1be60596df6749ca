package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// CreateOptions control Create.
type CreateOptions struct {
	Output   string // bundle file; parts get .000, .001, ... when split
	Compress bool   // zstd, one frame per entry
	PartSize int64  // split into parts of this many bytes; 0: one file
	Jobs     int    // concurrent downloads; default 4
	Registry RegistryOptions
	Helm     string // helm binary for charts; default "helm" from PATH
	Progress *Progress
	Now      func() time.Time
	Version  string // written as createdBy
}

// CreateResult tells what Create wrote.
type CreateResult struct {
	Files     []string // the bundle's physical files, in order
	Aggregate string   // sha256 of checksums.sha256: one value for the whole bundle
	Manifest  *Manifest
}

// blobSrc says where a blob comes from.
type blobSrc struct {
	desc   v1.Descriptor
	repo   name.Repository // remote source
	layout layout.Path     // or an OCI layout on disk
	file   string          // or a local file (charts)
}

type builder struct {
	ctx     context.Context
	opts    CreateOptions
	puller  *remote.Puller
	tmp     string
	mu      sync.Mutex
	small   map[v1.Hash][]byte // manifests and configs, held in memory
	blobs   map[v1.Hash]*blobSrc
	top     []v1.Descriptor
	man     Manifest
	seenRef map[string]bool
}

// Create makes a bundle from spec. The file appears under its final name only
// when everything in it has been written and checked.
func Create(ctx context.Context, spec *Spec, opts CreateOptions) (*CreateResult, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if opts.Output == "" {
		return nil, errors.New("no output file")
	}
	if opts.Jobs <= 0 {
		opts.Jobs = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	rt, err := opts.Registry.transport()
	if err != nil {
		return nil, err
	}
	puller, err := remote.NewPuller(remote.WithTransport(rt), remote.WithAuthFromKeychain(opts.Registry.keychain()),
		remote.WithContext(ctx), remote.WithJobs(opts.Jobs))
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(opts.Output), ".enclave-bundle-work-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	b := &builder{ctx: ctx, opts: opts, puller: puller, tmp: tmp, small: map[v1.Hash][]byte{},
		blobs: map[v1.Hash]*blobSrc{}, seenRef: map[string]bool{}}
	b.man = Manifest{SchemaVersion: 1, Name: spec.Name, Created: opts.Now().UTC().Truncate(time.Second),
		CreatedBy: "enclave " + opts.Version, Registry: spec.Registry}

	// Charts first: rendering them names more images.
	var extra []ImageSpec
	for _, c := range spec.Charts {
		imgs, err := b.addChart(ctx, c)
		if err != nil {
			return nil, err
		}
		extra = append(extra, imgs...)
	}
	for _, im := range append(append([]ImageSpec(nil), spec.Images...), extra...) {
		if err := b.addImage(ctx, im, spec.Platforms); err != nil {
			return nil, err
		}
	}
	for i := range b.man.Images {
		im := &b.man.Images[i]
		for _, c := range b.man.Charts {
			if slices.Contains(c.Images, im.Source) {
				im.Charts = append(im.Charts, c.Name)
			}
		}
	}
	b.setTargets(spec.Registry)
	if err := b.checkDisk(); err != nil {
		return nil, err
	}
	return b.write(ctx)
}

// addImage resolves one image and records its manifests and blobs.
func (b *builder) addImage(ctx context.Context, spec ImageSpec, defPlatforms []string) error {
	im := Image{Source: spec.Ref}
	var top *remote.Descriptor
	var fetch func(h v1.Hash) ([]byte, error)
	var src blobSrc
	if spec.Layout != "" {
		repo, tag, err := splitLocalRef(spec.Ref)
		if err != nil {
			return err
		}
		im.Repository, im.Tag = repo, tag
		lp, desc, err := findInLayout(spec.Layout, spec.Ref)
		if err != nil {
			return err
		}
		src.layout = lp
		fetch = func(h v1.Hash) ([]byte, error) { return readLayoutBlob(lp, h) }
		mb, err := fetch(desc.Digest)
		if err != nil {
			return err
		}
		top = &remote.Descriptor{Descriptor: desc, Manifest: mb}
	} else {
		ref, err := name.ParseReference(spec.Ref, b.opts.Registry.nameOpts()...)
		if err != nil {
			return fmt.Errorf("image %s: %w", spec.Ref, err)
		}
		im.Repository = ref.Context().RepositoryStr()
		if t, ok := ref.(name.Tag); ok {
			im.Tag = t.TagStr()
		}
		top, err = b.puller.Get(ctx, ref)
		if err != nil {
			return fmt.Errorf("image %s: %w", spec.Ref, err)
		}
		src.repo = ref.Context()
		fetch = func(h v1.Hash) ([]byte, error) {
			d, err := b.puller.Get(ctx, ref.Context().Digest(h.String()))
			if err != nil {
				return nil, err
			}
			return d.Manifest, nil
		}
	}
	if b.seenRef[im.Ref()] {
		return nil // the same image named twice, e.g. by two charts
	}
	b.seenRef[im.Ref()] = true
	if err := checkRepoPath(im.Repository); err != nil {
		return fmt.Errorf("image %s: %w", spec.Ref, err)
	}

	mediaType, raw := top.MediaType, top.Manifest
	want := spec.Platforms
	if len(want) == 0 {
		want = defPlatforms
	}
	if mediaType.IsIndex() && len(want) > 0 && !spec.AllPlatforms {
		var err error
		mediaType, raw, im.IndexDigest, err = narrowIndex(raw, mediaType, want, fetch)
		if err != nil {
			return fmt.Errorf("image %s: %w", spec.Ref, err)
		}
	}
	desc, err := b.collect(raw, mediaType, fetch, src, &im, 0)
	if err != nil {
		return fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	im.Digest, im.MediaType = desc.Digest.String(), string(mediaType)
	desc.Annotations = map[string]string{"org.opencontainers.image.ref.name": im.Ref(), annotationSource: spec.Ref}
	b.top = append(b.top, desc)
	b.man.Images = append(b.man.Images, im)
	return nil
}

const annotationSource = "dev.enclave.bundle.source"

// narrowIndex picks the platforms wanted from an index. One platform gives
// that image's own manifest, unchanged; several give a new, smaller index
// (which then has a new digest, as no registry would accept the old one
// without all its children).
func narrowIndex(raw []byte, mt types.MediaType, want []string, fetch func(v1.Hash) ([]byte, error)) (types.MediaType, []byte, string, error) {
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return "", nil, "", err
	}
	var keep []v1.Descriptor
	for _, d := range idx.Manifests {
		for _, w := range want {
			p, _ := parsePlatform(w)
			if platformMatches(d.Platform, p) {
				keep = append(keep, d)
				break
			}
		}
	}
	origin := digestOf(raw)
	switch {
	case len(keep) == 0:
		return "", nil, "", fmt.Errorf("no manifest for platforms %v", want)
	case len(keep) == len(idx.Manifests):
		return mt, raw, "", nil
	case len(keep) == 1:
		b, err := fetch(keep[0].Digest)
		return keep[0].MediaType, b, origin, err
	}
	idx.Manifests = keep
	b, err := json.Marshal(idx)
	return mt, b, origin, err
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// collect records a manifest and everything it points to, returning its
// descriptor. Manifests are kept exactly as fetched.
func (b *builder) collect(raw []byte, mt types.MediaType, fetch func(v1.Hash) ([]byte, error), src blobSrc, im *Image, depth int) (v1.Descriptor, error) {
	if depth > 4 {
		return v1.Descriptor{}, errors.New("indexes nested too deep")
	}
	h, _ := v1.NewHash(digestOf(raw))
	desc := v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: h}
	b.small[h] = raw
	im.Size += desc.Size
	switch {
	case mt.IsIndex():
		var idx v1.IndexManifest
		if err := json.Unmarshal(raw, &idx); err != nil {
			return desc, fmt.Errorf("index %s: %w", h, err)
		}
		for _, d := range idx.Manifests {
			child, err := fetch(d.Digest)
			if err != nil {
				return desc, fmt.Errorf("manifest %s: %w", d.Digest, err)
			}
			if digestOf(child) != d.Digest.String() {
				return desc, fmt.Errorf("manifest %s: content does not match its digest", d.Digest)
			}
			if _, err := b.collect(child, d.MediaType, fetch, src, im, depth+1); err != nil {
				return desc, err
			}
			if ps := platformString(d.Platform); ps != "" {
				im.Platforms = append(im.Platforms, ps)
			}
		}
	default:
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return desc, fmt.Errorf("manifest %s: %w", h, err)
		}
		cfg := m.Config
		if cfg.Size > 0 && cfg.Size <= 4<<20 {
			cb, err := fetchSmallBlob(b, src, cfg)
			if err != nil {
				return desc, err
			}
			b.small[cfg.Digest] = cb
			var cf v1.ConfigFile
			if depth == 0 && json.Unmarshal(cb, &cf) == nil && cf.OS != "" {
				im.Platforms = append(im.Platforms, platformString(&v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}))
			}
			im.Size += cfg.Size
		} else {
			b.addBlob(src, cfg, im)
		}
		for _, l := range m.Layers {
			if len(l.URLs) > 0 {
				continue // a foreign layer lives elsewhere by design
			}
			b.addBlob(src, l, im)
		}
	}
	return desc, nil
}

func (b *builder) addBlob(src blobSrc, d v1.Descriptor, im *Image) {
	im.Size += d.Size
	if _, ok := b.blobs[d.Digest]; ok {
		return
	}
	s := src
	s.desc = d
	b.blobs[d.Digest] = &s
}

func fetchSmallBlob(b *builder, src blobSrc, d v1.Descriptor) ([]byte, error) {
	if c, ok := b.small[d.Digest]; ok {
		return c, nil
	}
	rc, err := b.openSource(b.ctx, &blobSrc{desc: d, repo: src.repo, layout: src.layout})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf, err := io.ReadAll(io.LimitReader(rc, d.Size+1))
	if err != nil {
		return nil, err
	}
	if int64(len(buf)) != d.Size || digestOf(buf) != d.Digest.String() {
		return nil, fmt.Errorf("blob %s: content does not match its descriptor", d.Digest)
	}
	return buf, nil
}

func (b *builder) openSource(ctx context.Context, s *blobSrc) (io.ReadCloser, error) {
	switch {
	case s.file != "":
		return os.Open(s.file)
	case s.layout != "":
		return s.layout.Blob(s.desc.Digest)
	}
	l, err := b.puller.Layer(ctx, s.repo.Digest(s.desc.Digest.String()))
	if err != nil {
		return nil, err
	}
	return l.Compressed()
}

// setTargets fills in where each image and chart is meant to go.
func (b *builder) setTargets(registry string) {
	if registry == "" {
		return
	}
	mp := Mapping{Registry: registry}
	for i := range b.man.Images {
		im := &b.man.Images[i]
		if repo, err := mp.Map(im.Repository); err == nil {
			im.Target = tagged(repo, im.Tag, im.Digest)
		}
	}
	for i := range b.man.Charts {
		c := &b.man.Charts[i]
		if repo, err := mp.Map(c.Repository); err == nil {
			c.Target = "oci://" + repo + ":" + chartTag(c.Version)
		}
	}
}

func tagged(repo, tag, digest string) string {
	if tag != "" {
		return repo + ":" + tag
	}
	return repo + "@" + digest
}

func (b *builder) sortedBlobs() []*blobSrc {
	out := make([]*blobSrc, 0, len(b.blobs))
	for h, s := range b.blobs {
		if _, inMem := b.small[h]; !inMem {
			out = append(out, s)
		}
	}
	// Largest first keeps every download slot busy to the end.
	sort.Slice(out, func(i, j int) bool {
		if out[i].desc.Size != out[j].desc.Size {
			return out[i].desc.Size > out[j].desc.Size
		}
		return out[i].desc.Digest.Hex < out[j].desc.Digest.Hex
	})
	return out
}

func (b *builder) checkDisk() error {
	var need int64
	for _, s := range b.sortedBlobs() {
		need += s.desc.Size
	}
	return checkFreeDisk(filepath.Dir(b.opts.Output), need)
}
