package bundle

import (
	"fmt"
	"sort"
	"strings"
)

// helmValues prints, per chart, the install command and values that point
// the chart at the internal registry: global.imageRegistry (the convention
// most charts follow) and, for a chart that runs one image, image.repository,
// image.tag and image.digest. Every source → destination pair is listed in
// comments, as chart layouts differ.
func helmValues(host string, m Mapping, man *Manifest, items []*item) string {
	dest := map[string]*item{}
	for _, it := range items {
		if it.image != nil {
			dest[it.image.Source] = it
		}
	}
	var b strings.Builder
	for _, it := range items {
		c := it.chart
		if c == nil {
			continue
		}
		reg := strings.TrimSuffix(strings.TrimPrefix(m.Registry, "https://"), "/")
		fmt.Fprintf(&b, "---\n# %s %s: helm upgrade --install %s oci://%s/%s --version %s -f THIS_FILE\n",
			c.Name, c.Version, c.Name, host, it.repo, c.Version)
		imgs := append([]string(nil), c.Images...)
		sort.Strings(imgs)
		for _, src := range imgs {
			if d, ok := dest[src]; ok {
				fmt.Fprintf(&b, "#   %s -> %s/%s:%s@%s\n", src, host, d.repo, d.image.Tag, d.image.Digest)
			}
		}
		fmt.Fprintf(&b, "global:\n  imageRegistry: %s\n", reg)
		if len(imgs) == 1 {
			if d, ok := dest[imgs[0]]; ok {
				fmt.Fprintf(&b, "image:\n  repository: %s/%s\n", host, d.repo)
				if d.image.Tag != "" {
					fmt.Fprintf(&b, "  tag: %q\n", d.image.Tag)
				}
				fmt.Fprintf(&b, "  digest: %s\n", d.image.Digest)
			}
		}
	}
	return b.String()
}
