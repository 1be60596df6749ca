// Command bundle compares, in one run on the same images, moving images into
// a fresh registry with `enclave bundle create` + `push`, with crane (`pull
// --format oci` into one layout, then `push` per image) and with skopeo
// (`copy` into one OCI layout and out again). It prints a Markdown table of
// wall time, bytes on disk against the unique blobs, and digests kept.
//
//	go run ./bench/bundle -enclave ./enclave   (or bench/bundle/run.sh)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/enclave-mlops/enclave/internal/registrytest"
)

func main() {
	enclave := flag.String("enclave", "enclave", "enclave binary")
	scale := flag.Int64("scale", 1, "multiply layer sizes")
	flag.Parse()
	log.SetFlags(0)
	work, err := os.MkdirTemp("", "bench-bundle-")
	check(err)
	cleanups = append(cleanups, func() { os.RemoveAll(work) })
	defer os.RemoveAll(work)

	src := start(filepath.Join(work, "src"))
	defer src.Close()
	refs, unique := seed(src.Host, *scale)
	log.Printf("seeded %d images (%d unique blob bytes)", len(refs), unique)

	var rows []row
	rows = append(rows, runEnclave(*enclave, work, src, refs))
	rows = append(rows, runCrane(work, src, refs))
	rows = append(rows, runSkopeo(work, src, refs))

	fmt.Printf("%d images (one a 2-platform index), %.1f MB of unique blobs, source and destination registries on loopback.\n\n", len(refs), float64(unique)/1e6)
	fmt.Println("| path | export s | push s | total s | bytes ÷ unique blobs | digests kept |")
	fmt.Println("|---|---|---|---|---|---|")
	best := 0.0
	for _, r := range rows {
		fmt.Printf("| %s | %.2f | %.2f | %.2f | %.2f | %d of %d |\n", r.name, r.export.Seconds(), r.push.Seconds(),
			(r.export + r.push).Seconds(), float64(r.bytes)/float64(unique), r.kept, len(refs))
		if r.name != rows[0].name && (best == 0 || (r.export+r.push).Seconds() < best) {
			best = (r.export + r.push).Seconds()
		}
	}
	fmt.Printf("\nenclave total ÷ fastest other: %.2f\n", (rows[0].export+rows[0].push).Seconds()/best)
	fmt.Printf("enclave second push of the same bundle (everything present): %.2f s\n", rows[0].again.Seconds())
}

type row struct {
	name                string
	export, push, again time.Duration
	bytes               int64
	kept                int
}

func start(dir string) *registrytest.Registry {
	check(os.MkdirAll(dir, 0o755))
	r, err := registrytest.Start(registrytest.Options{Dir: dir})
	check(err)
	cleanups = append(cleanups, func() { r.Close() })
	return r
}

// seed pushes 9 images and one 2-platform index sharing two base layers.
func seed(host string, scale int64) (refs []string, unique int64) {
	mb := int64(1 << 20)
	layer := func(size int64) v1.Layer {
		l, err := random.Layer(size*scale, types.OCILayer)
		check(err)
		s, err := l.Size()
		check(err)
		unique += s
		return l
	}
	image := func(arch string, ls ...v1.Layer) v1.Image {
		img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		img, err := mutate.AppendLayers(img, ls...)
		check(err)
		cf, err := img.ConfigFile()
		check(err)
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		img, err = mutate.ConfigFile(img, cf)
		check(err)
		for _, d := range []func() (int64, error){img.Size} {
			s, err := d()
			check(err)
			unique += s
		}
		cfg, err := img.RawConfigFile()
		check(err)
		unique += int64(len(cfg))
		return img
	}
	osBase, runtime := layer(40*mb), layer(30*mb)
	write := func(ref string, img v1.Image) {
		r, err := name.ParseReference(host + "/" + ref)
		check(err)
		check(remote.Write(r, img))
		refs = append(refs, ref)
	}
	for i := range 6 {
		write(fmt.Sprintf("apps/app-%d:1.%d", i, i), image("amd64", osBase, runtime, layer(8*mb)))
	}
	write("apps/worker:2.0", image("amd64", osBase, layer(6*mb)))
	write("tools/debug:1.0", image("amd64", layer(5*mb)))
	write("tools/migrate:1.0", image("amd64", osBase, layer(3*mb)))
	amd, arm := image("amd64", osBase, layer(6*mb)), image("arm64", layer(6*mb))
	// The index is written by hand: ggcr adds artifactType to its entries,
	// which skopeo 1.9 drops and then refuses to copy with digests kept.
	repo, err := name.NewRepository(host + "/base/multi")
	check(err)
	var entries []string
	for _, c := range []struct {
		img  v1.Image
		arch string
	}{{amd, "amd64"}, {arm, "arm64"}} {
		d, err := c.img.Digest()
		check(err)
		check(remote.Write(repo.Digest(d.String()), c.img))
		raw, err := c.img.RawManifest()
		check(err)
		entries = append(entries, fmt.Sprintf(`{"mediaType":%q,"size":%d,"digest":%q,"platform":{"architecture":%q,"os":"linux"}}`,
			types.OCIManifestSchema1, len(raw), d, c.arch))
	}
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + strings.Join(entries, ",") + `]}`)
	check(remote.Put(repo.Tag("1.0"), rawIndex(raw)))
	refs = append(refs, "base/multi:1.0")
	unique += int64(len(raw))
	sort.Strings(refs)
	return refs, unique
}

type rawIndex []byte

func (r rawIndex) RawManifest() ([]byte, error)        { return r, nil }
func (r rawIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func timed(f func()) time.Duration {
	t := time.Now()
	f()
	return time.Since(t)
}

func runEnclave(bin, work string, src *registrytest.Registry, refs []string) row {
	dst := start(filepath.Join(work, "dst-enclave"))
	defer dst.Close()
	out := filepath.Join(work, "enclave.bundle")
	args := []string{"bundle", "create", "-o", out, "--plain-http"}
	for _, r := range refs {
		args = append(args, "--image", src.Host+"/"+r)
	}
	r := row{name: "enclave bundle create + push"}
	r.export = timed(func() { run(bin, args...) })
	pushArgs := []string{"bundle", "push", out, "--registry", dst.Host + "/proj", "--plain-http"}
	r.push = timed(func() { run(bin, pushArgs...) })
	r.again = timed(func() { run(bin, pushArgs...) })
	r.bytes = fileSize(out)
	r.kept = kept(src.Host, dst.Host+"/proj", refs)
	return r
}

func runCrane(work string, src *registrytest.Registry, refs []string) row {
	dst := start(filepath.Join(work, "dst-crane"))
	defer dst.Close()
	lay := filepath.Join(work, "crane-layout")
	args := []string{"pull", "--format", "oci", "--annotate-ref", "--insecure"}
	for _, r := range refs {
		args = append(args, src.Host+"/"+r)
	}
	r := row{name: "crane pull --format oci + push"}
	r.export = timed(func() { run("crane", append(args, lay)...) })
	// crane pushes a layout holding one entry; give each image a view of
	// the shared layout with its own index.json.
	views := craneViews(work, lay, src.Host)
	r.push = timed(func() {
		for _, ref := range refs {
			run("crane", "push", "--insecure", views[ref], dst.Host+"/proj/"+ref)
		}
	})
	r.bytes = dirSize(lay)
	r.kept = kept(src.Host, dst.Host+"/proj", refs)
	return r
}

func craneViews(work, lay, srcHost string) map[string]string {
	raw, err := os.ReadFile(filepath.Join(lay, "index.json"))
	check(err)
	var idx v1.IndexManifest
	check(json.Unmarshal(raw, &idx))
	views := map[string]string{}
	for _, d := range idx.Manifests {
		ref := strings.TrimPrefix(d.Annotations["org.opencontainers.image.ref.name"], srcHost+"/")
		v := filepath.Join(work, "crane-view", strings.NewReplacer("/", "_", ":", "_").Replace(ref))
		check(os.MkdirAll(v, 0o755))
		check(os.Symlink(filepath.Join(lay, "blobs"), filepath.Join(v, "blobs")))
		check(os.WriteFile(filepath.Join(v, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
		one, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{d}})
		check(err)
		check(os.WriteFile(filepath.Join(v, "index.json"), one, 0o644))
		views[ref] = v
	}
	return views
}

func runSkopeo(work string, src *registrytest.Registry, refs []string) row {
	dst := start(filepath.Join(work, "dst-skopeo"))
	defer dst.Close()
	lay := filepath.Join(work, "skopeo-layout")
	r := row{name: "skopeo copy via one OCI layout"}
	r.export = timed(func() {
		for _, ref := range refs {
			run("skopeo", "copy", "--all", "--preserve-digests", "--src-tls-verify=false",
				"docker://"+src.Host+"/"+ref, "oci:"+lay+":"+ref)
		}
	})
	r.push = timed(func() {
		for _, ref := range refs {
			run("skopeo", "copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
				"oci:"+lay+":"+ref, "docker://"+dst.Host+"/proj/"+ref)
		}
	})
	r.bytes = dirSize(lay)
	r.kept = kept(src.Host, dst.Host+"/proj", refs)
	return r
}

// kept counts the images whose digest at the destination equals the source's.
func kept(src, dst string, refs []string) int {
	n := 0
	for _, ref := range refs {
		a, err1 := head(src + "/" + ref)
		b, err2 := head(dst + "/" + ref)
		if err1 == nil && err2 == nil && a == b {
			n++
		}
	}
	return n
}

func head(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	d, err := remote.Head(r, remote.WithContext(context.Background()))
	if err != nil {
		return "", err
	}
	return d.Digest.String(), nil
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	check(err)
	return st.Size()
}

func dirSize(dir string) int64 {
	var n int64
	check(filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	}))
	return n
}

// cleanups stop registries and remove the work folder even when a step
// fails, so a failed run leaves no registry behind.
var cleanups []func()

func fatalf(format string, args ...any) {
	log.Printf(format, args...)
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	os.Exit(1)
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}
