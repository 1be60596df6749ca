package bundle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"sigs.k8s.io/yaml"
)

// Spec is bundle.yaml: what to put in a bundle.
//
//	name: enclave
//	registry: registry.internal:5000/enclave   # intended destination
//	platforms: [linux/amd64]                    # default for every image; empty keeps whole indexes
//	images:
//	  - ref: ghcr.io/enclave-mlops/enclave:0.1.0
//	  - ref: docker.io/library/postgres:16
//	    allPlatforms: true                      # keep this index whole
//	  - ref: enclave-mlops/enclave:dev          # from an OCI layout on disk
//	    layout: dist/enclave-image
//	charts:
//	  - ref: oci://ghcr.io/enclave-mlops/charts/enclave
//	    version: 0.1.0
//	    values: [values-prod.yaml]
//	  - ref: postgresql
//	    repo: https://charts.example.com
//	    version: 15.5.0
//	  - ref: ./deploy/charts/workspace          # a chart folder or .tgz
type Spec struct {
	Name      string      `json:"name,omitempty"`
	Registry  string      `json:"registry,omitempty"`
	Platforms []string    `json:"platforms,omitempty"`
	Images    []ImageSpec `json:"images,omitempty"`
	Charts    []ChartSpec `json:"charts,omitempty"`
}

// ImageSpec names one image.
type ImageSpec struct {
	Ref          string   `json:"ref"`
	Platforms    []string `json:"platforms,omitempty"`
	AllPlatforms bool     `json:"allPlatforms,omitempty"`
	// Layout reads the image from an OCI image layout folder instead of a
	// registry; Ref is then the repository:tag it gets in the bundle.
	Layout string `json:"layout,omitempty"`
}

// ChartSpec names one Helm chart and how to render it to find its images.
type ChartSpec struct {
	Ref     string   `json:"ref"`
	Repo    string   `json:"repo,omitempty"`
	Version string   `json:"version,omitempty"`
	Values  []string `json:"values,omitempty"`
	Set     []string `json:"set,omitempty"`
	// NoImages skips image discovery for this chart.
	NoImages bool `json:"noImages,omitempty"`
}

// LoadSpec reads bundle.yaml. Relative paths in it are taken from the
// file's folder, so a spec works from wherever it is run.
func LoadSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Spec
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	for i := range s.Images {
		s.Images[i].Layout = rel(s.Images[i].Layout)
	}
	for i := range s.Charts {
		c := &s.Charts[i]
		if isLocalChart(c.Ref, c.Repo) {
			c.Ref = rel(c.Ref)
		}
		for j := range c.Values {
			c.Values[j] = rel(c.Values[j])
		}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// Validate checks a spec before any download starts.
func (s *Spec) Validate() error {
	if len(s.Images) == 0 && len(s.Charts) == 0 {
		return errors.New("nothing to bundle: no images and no charts")
	}
	for _, p := range s.Platforms {
		if _, err := parsePlatform(p); err != nil {
			return err
		}
	}
	for i, im := range s.Images {
		if im.Ref == "" {
			return fmt.Errorf("images[%d]: ref is empty", i)
		}
		for _, p := range im.Platforms {
			if _, err := parsePlatform(p); err != nil {
				return fmt.Errorf("images[%d]: %w", i, err)
			}
		}
	}
	for i, c := range s.Charts {
		if c.Ref == "" {
			return fmt.Errorf("charts[%d]: ref is empty", i)
		}
		if c.Repo != "" && c.Version == "" {
			return fmt.Errorf("charts[%d] (%s): a chart from a repository needs a version", i, c.Ref)
		}
		if strings.HasPrefix(c.Ref, "oci://") && c.Version == "" && !strings.Contains(lastPathElem(c.Ref), ":") {
			return fmt.Errorf("charts[%d] (%s): an oci:// chart needs a version (or :TAG)", i, c.Ref)
		}
	}
	return nil
}

func isLocalChart(ref, repo string) bool {
	return repo == "" && !strings.HasPrefix(ref, "oci://")
}

func lastPathElem(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}

// LayoutImages names every image of an OCI layout by its ref.name
// annotation, e.g. to bundle the image `enclave image build` wrote.
func LayoutImages(dir string) ([]ImageSpec, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	var out []ImageSpec
	for _, d := range im.Manifests {
		ref := d.Annotations["org.opencontainers.image.ref.name"]
		if ref == "" {
			return nil, fmt.Errorf("OCI layout %s: manifest %s has no org.opencontainers.image.ref.name", dir, d.Digest)
		}
		out = append(out, ImageSpec{Ref: ref, Layout: dir})
	}
	return out, nil
}
