package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Manifest is enclave-bundle.json: what a bundle holds and where it is meant
// to go. It is written by Create and, being part of an untrusted file, checked
// by ParseManifest before anything trusts it.
type Manifest struct {
	SchemaVersion int       `json:"schemaVersion"`
	Name          string    `json:"name,omitempty"`
	Created       time.Time `json:"created"`
	CreatedBy     string    `json:"createdBy,omitempty"`
	// Registry is the internal registry (HOST[/PREFIX]) the bundle is meant
	// for; push may be told another.
	Registry string  `json:"registry,omitempty"`
	Images   []Image `json:"images"`
	Charts   []Chart `json:"charts,omitempty"`
	// Blobs and Size count the unique blobs and their bytes.
	Blobs int   `json:"blobs"`
	Size  int64 `json:"size"`
}

// Image is one image (or index) in the bundle.
type Image struct {
	Source     string   `json:"source"`     // reference as given, e.g. registry.example/team/app:1.2
	Repository string   `json:"repository"` // source path without host: team/app
	Tag        string   `json:"tag,omitempty"`
	Digest     string   `json:"digest"`
	MediaType  string   `json:"mediaType"`
	Platforms  []string `json:"platforms,omitempty"`
	Size       int64    `json:"size"` // manifests and blobs of this image, shared ones included
	// IndexDigest is the index the image was chosen from when platforms
	// narrowed an index down to one image.
	IndexDigest string   `json:"indexDigest,omitempty"`
	Target      string   `json:"target,omitempty"` // intended internal reference
	Charts      []string `json:"charts,omitempty"` // charts whose templates need it
}

// Chart is one Helm chart, stored as an OCI artifact as `helm push` makes it.
type Chart struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Source     string   `json:"source"`
	Repository string   `json:"repository"` // path the artifact is pushed under, e.g. charts/enclave
	Digest     string   `json:"digest"`
	Size       int64    `json:"size"`
	Images     []string `json:"images,omitempty"` // sources of the images found in it
	Target     string   `json:"target,omitempty"`
}

// Ref returns repository:tag, or repository@digest when untagged.
func (im Image) Ref() string {
	if im.Tag != "" {
		return im.Repository + ":" + im.Tag
	}
	return im.Repository + "@" + im.Digest
}

// chartTag is how Helm tags a chart version in a registry (no '+' allowed).
func chartTag(version string) string { return strings.ReplaceAll(version, "+", "_") }

// ParseManifest decodes and checks enclave-bundle.json. Unknown fields are
// refused: a manifest from a newer, incompatible writer should not be half
// understood.
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) > maxMetaSize {
		return nil, fmt.Errorf("%s: too large", manifestName)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", manifestName, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: trailing data", manifestName)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", manifestName, err)
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	if m.SchemaVersion != 1 {
		return fmt.Errorf("schemaVersion %d not supported (want 1)", m.SchemaVersion)
	}
	if m.Blobs < 0 || m.Size < 0 {
		return fmt.Errorf("negative blob count or size")
	}
	refs := map[string]bool{}
	for i, im := range m.Images {
		if _, err := v1.NewHash(im.Digest); err != nil {
			return fmt.Errorf("image %d (%s): digest: %w", i, im.Source, err)
		}
		if err := checkRepoPath(im.Repository); err != nil {
			return fmt.Errorf("image %d (%s): %w", i, im.Source, err)
		}
		if im.Tag != "" && !validTag(im.Tag) {
			return fmt.Errorf("image %d (%s): invalid tag %q", i, im.Source, im.Tag)
		}
		if im.Size < 0 {
			return fmt.Errorf("image %d (%s): negative size", i, im.Source)
		}
		if refs[im.Ref()] {
			return fmt.Errorf("image %s listed twice", im.Ref())
		}
		refs[im.Ref()] = true
	}
	for i, c := range m.Charts {
		if _, err := v1.NewHash(c.Digest); err != nil {
			return fmt.Errorf("chart %d (%s): digest: %w", i, c.Name, err)
		}
		if err := checkRepoPath(c.Repository); err != nil {
			return fmt.Errorf("chart %d (%s): %w", i, c.Name, err)
		}
		if c.Name == "" || !validTag(chartTag(c.Version)) {
			return fmt.Errorf("chart %d: name %q or version %q invalid", i, c.Name, c.Version)
		}
	}
	return nil
}

// checkRepoPath accepts a repository path as the distribution spec defines
// it: lowercase components separated by '/', none empty, '.' or '..'.
func checkRepoPath(p string) error {
	if p == "" || len(p) > 255 {
		return fmt.Errorf("repository %q: empty or too long", p)
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("repository %q: bad component", p)
		}
		for i := 0; i < len(c); i++ {
			ch := c[i]
			ok := ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-'
			if !ok {
				return fmt.Errorf("repository %q: character %q not allowed", p, ch)
			}
		}
		if !isAlnum(c[0]) || !isAlnum(c[len(c)-1]) {
			return fmt.Errorf("repository %q: component %q must start and end with a letter or digit", p, c)
		}
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func validTag(t string) bool {
	if t == "" || len(t) > 128 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || (i > 0 && (c == '.' || c == '-'))
		if !ok {
			return false
		}
	}
	return true
}

// Text renders manifest.txt, the bundle's contents for people.
func (m *Manifest) Text() string {
	var b bytes.Buffer
	title := m.Name
	if title == "" {
		title = "(unnamed)"
	}
	fmt.Fprintf(&b, "Enclave bundle %s\nexported %s by %s\n", title, m.Created.UTC().Format(time.RFC3339), m.CreatedBy)
	if m.Registry != "" {
		fmt.Fprintf(&b, "intended registry: %s\n", m.Registry)
	}
	fmt.Fprintf(&b, "%d images, %d charts, %d unique blobs, %s\n\n", len(m.Images), len(m.Charts), m.Blobs, humanBytes(m.Size))
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tDIGEST\tPLATFORMS\tSIZE\tTARGET")
	images := append([]Image(nil), m.Images...)
	sort.Slice(images, func(i, j int) bool { return images[i].Source < images[j].Source })
	for _, im := range images {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", im.Source, im.Digest, strings.Join(im.Platforms, ","), humanBytes(im.Size), im.Target)
	}
	tw.Flush()
	if len(m.Charts) > 0 {
		fmt.Fprintln(&b)
		tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CHART\tVERSION\tSOURCE\tDIGEST\tTARGET")
		for _, c := range m.Charts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, c.Version, c.Source, c.Digest, c.Target)
		}
		tw.Flush()
	}
	return b.String()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
