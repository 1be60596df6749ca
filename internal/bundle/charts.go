package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"
)

// Media types Helm uses for a chart stored in an OCI registry; with them,
// `helm pull oci://...` works against the internal registry.
const (
	helmConfigType = "application/vnd.cncf.helm.config.v1+json"
	helmChartType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// addChart fetches or packages one chart, stores it as a Helm OCI artifact
// and returns the images its templates and annotations name.
func (b *builder) addChart(ctx context.Context, c ChartSpec) ([]ImageSpec, error) {
	var tgz, repository, source string
	var ociSrc *name.Repository
	var raw []byte
	switch {
	case strings.HasPrefix(c.Ref, "oci://"):
		ref, man, layerPath, err := b.fetchOCIChart(ctx, c)
		if err != nil {
			return nil, err
		}
		r := ref.Context()
		ociSrc, raw, tgz = &r, man, layerPath
		repository, source = r.RepositoryStr(), c.Ref
	case c.Repo != "":
		dir, err := os.MkdirTemp(b.tmp, "chart-")
		if err != nil {
			return nil, err
		}
		if _, err := b.helm(ctx, "pull", c.Ref, "--repo", c.Repo, "--version", c.Version, "--destination", dir); err != nil {
			return nil, err
		}
		if tgz, err = onlyFile(dir); err != nil {
			return nil, fmt.Errorf("chart %s: %w", c.Ref, err)
		}
		source = strings.TrimSuffix(c.Repo, "/") + "/" + c.Ref
	default:
		fi, err := os.Stat(c.Ref)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", c.Ref, err)
		}
		tgz, source = c.Ref, c.Ref
		if fi.IsDir() {
			dir, err := os.MkdirTemp(b.tmp, "chart-")
			if err != nil {
				return nil, err
			}
			if _, err := b.helm(ctx, "package", c.Ref, "--destination", dir); err != nil {
				return nil, err
			}
			if tgz, err = onlyFile(dir); err != nil {
				return nil, fmt.Errorf("chart %s: %w", c.Ref, err)
			}
		}
	}
	meta, metaJSON, err := readChartMeta(tgz)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", c.Ref, err)
	}
	if c.Version != "" && meta.Version != c.Version {
		return nil, fmt.Errorf("chart %s: version %s found, %s asked for", c.Ref, meta.Version, c.Version)
	}
	if repository == "" {
		repository = "charts/" + meta.Name
	}
	ch := Chart{Name: meta.Name, Version: meta.Version, Source: source, Repository: repository}
	if b.seenRef[repository+":"+chartTag(meta.Version)] {
		return nil, fmt.Errorf("chart %s %s named twice", meta.Name, meta.Version)
	}
	b.seenRef[repository+":"+chartTag(meta.Version)] = true

	im := Image{}
	if raw == nil {
		raw, err = b.chartArtifact(tgz, metaJSON, meta)
		if err != nil {
			return nil, err
		}
	}
	src := blobSrc{}
	if ociSrc != nil {
		src.repo = *ociSrc
	}
	desc, err := b.collect(raw, types.OCIManifestSchema1, nil, src, &im, 0)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", c.Ref, err)
	}
	ch.Digest, ch.Size = desc.Digest.String(), im.Size
	desc.Annotations = map[string]string{"org.opencontainers.image.ref.name": repository + ":" + chartTag(meta.Version), annotationSource: source}
	b.top = append(b.top, desc)

	var found []string
	if !c.NoImages {
		if found, err = b.chartImages(ctx, tgz, meta, c); err != nil {
			return nil, err
		}
	}
	ch.Images = found
	b.man.Charts = append(b.man.Charts, ch)
	specs := make([]ImageSpec, len(found))
	for i, f := range found {
		specs[i] = ImageSpec{Ref: f}
	}
	return specs, nil
}

// chartArtifact builds the manifest `helm push` would, with the packaged
// chart as its one layer, so the chart lands in the registry as a chart.
func (b *builder) chartArtifact(tgz string, metaJSON []byte, meta chartMeta) ([]byte, error) {
	st, err := os.Stat(tgz)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(tgz)
	if err != nil {
		return nil, err
	}
	h, _, err := v1.SHA256(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	cfgHash, _ := v1.NewHash(digestOf(metaJSON))
	b.small[cfgHash] = metaJSON
	layer := v1.Descriptor{MediaType: helmChartType, Size: st.Size(), Digest: h}
	b.blobs[h] = &blobSrc{desc: layer, file: tgz}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: helmConfigType, Size: int64(len(metaJSON)), Digest: cfgHash},
		Layers:        []v1.Descriptor{layer},
		Annotations: map[string]string{
			"org.opencontainers.image.title":   meta.Name,
			"org.opencontainers.image.version": meta.Version,
		},
	}
	return json.Marshal(m)
}

// fetchOCIChart fetches a chart's manifest as it is and its chart layer into
// a temporary file, needed to render the templates.
func (b *builder) fetchOCIChart(ctx context.Context, c ChartSpec) (name.Reference, []byte, string, error) {
	s := strings.TrimPrefix(c.Ref, "oci://")
	if c.Version != "" && !strings.Contains(lastPathElem(s), ":") {
		s += ":" + chartTag(c.Version)
	}
	ref, err := name.ParseReference(s, b.opts.Registry.nameOpts()...)
	if err != nil {
		return nil, nil, "", fmt.Errorf("chart %s: %w", c.Ref, err)
	}
	d, err := b.puller.Get(ctx, ref)
	if err != nil {
		return nil, nil, "", fmt.Errorf("chart %s: %w", c.Ref, err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return nil, nil, "", fmt.Errorf("chart %s: %w", c.Ref, err)
	}
	for _, l := range m.Layers {
		if l.MediaType != helmChartType {
			continue
		}
		src := &blobSrc{desc: l, repo: ref.Context()}
		p, err := b.download(ctx, src)
		if err != nil {
			return nil, nil, "", fmt.Errorf("chart %s: %w", c.Ref, err)
		}
		// Keep the download: it goes into the bundle as it is.
		src.file = p
		b.blobs[l.Digest] = src
		return ref, d.Manifest, p, nil
	}
	return nil, nil, "", fmt.Errorf("chart %s: no layer of type %s (not a Helm chart?)", c.Ref, helmChartType)
}

type chartMeta struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Annotations map[string]string `json:"annotations"`
}

// readChartMeta reads NAME/Chart.yaml from a packaged chart.
func readChartMeta(tgz string) (chartMeta, []byte, error) {
	var meta chartMeta
	f, err := os.Open(tgz)
	if err != nil {
		return meta, nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return meta, nil, err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return meta, nil, errors.New("no Chart.yaml in the package")
		}
		if err != nil {
			return meta, nil, err
		}
		if path.Base(h.Name) != "Chart.yaml" || strings.Count(path.Clean(h.Name), "/") != 1 {
			continue
		}
		y, err := io.ReadAll(io.LimitReader(tr, 1<<20))
		if err != nil {
			return meta, nil, err
		}
		js, err := yaml.YAMLToJSON(y)
		if err != nil {
			return meta, nil, fmt.Errorf("Chart.yaml: %w", err)
		}
		if err := json.Unmarshal(js, &meta); err != nil {
			return meta, nil, fmt.Errorf("Chart.yaml: %w", err)
		}
		if meta.Name == "" || meta.Version == "" {
			return meta, nil, errors.New("Chart.yaml has no name or version")
		}
		return meta, js, nil
	}
}

// chartImages renders the chart with the given values and collects every
// container image, plus those listed in the helm.sh/images annotation.
func (b *builder) chartImages(ctx context.Context, tgz string, meta chartMeta, c ChartSpec) ([]string, error) {
	args := []string{"template", "bundle", tgz}
	for _, v := range c.Values {
		args = append(args, "--values", v)
	}
	for _, s := range c.Set {
		args = append(args, "--set", s)
	}
	out, err := b.helm(ctx, args...)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	if err := imagesInManifests(out, set); err != nil {
		return nil, fmt.Errorf("chart %s: rendered templates: %w", meta.Name, err)
	}
	for _, key := range []string{"helm.sh/images", "artifacthub.io/images"} {
		if a := meta.Annotations[key]; a != "" {
			if err := imagesInAnnotation(a, set); err != nil {
				return nil, fmt.Errorf("chart %s: annotation %s: %w", meta.Name, key, err)
			}
		}
	}
	imgs := make([]string, 0, len(set))
	for im := range set {
		imgs = append(imgs, im)
	}
	sort.Strings(imgs)
	return imgs, nil
}

// imagesInManifests finds image fields of containers in rendered YAML.
func imagesInManifests(rendered []byte, set map[string]bool) error {
	for _, doc := range splitYAMLDocs(rendered) {
		var obj any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return err
		}
		walkContainers(obj, set)
	}
	return nil
}

func splitYAMLDocs(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if bytes.Equal(bytes.TrimRight(line, " \r\n"), []byte("---")) {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(docs, cur.Bytes())
}

func walkContainers(v any, set map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if k == "containers" || k == "initContainers" || k == "ephemeralContainers" {
				if list, ok := child.([]any); ok {
					for _, c := range list {
						if cm, ok := c.(map[string]any); ok {
							if im, ok := cm["image"].(string); ok && im != "" {
								set[im] = true
							}
						}
					}
				}
			}
			walkContainers(child, set)
		}
	case []any:
		for _, child := range t {
			walkContainers(child, set)
		}
	}
}

// imagesInAnnotation reads a list of {image: REF} entries or of plain refs.
func imagesInAnnotation(a string, set map[string]bool) error {
	var list []any
	if err := yaml.Unmarshal([]byte(a), &list); err != nil {
		return err
	}
	for _, e := range list {
		switch t := e.(type) {
		case string:
			set[t] = true
		case map[string]any:
			if im, ok := t["image"].(string); ok && im != "" {
				set[im] = true
			}
		}
	}
	return nil
}

// helm runs the helm CLI; keeping Helm out of process keeps its large SDK
// out of our binary.
func (b *builder) helm(ctx context.Context, args ...string) ([]byte, error) {
	bin := b.opts.Helm
	if bin == "" {
		bin = "helm"
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func onlyFile(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	if len(ents) != 1 {
		return "", fmt.Errorf("expected one chart package in %s, found %d", dir, len(ents))
	}
	return filepath.Join(dir, ents[0].Name()), nil
}
