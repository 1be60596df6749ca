package bundle

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/enclave-mlops/enclave/internal/registrytest"
)

// writeChart writes a chart whose Deployment image comes from values and
// whose helm.sh/images annotation names one more image.
func writeChart(t *testing.T, dir, srcHost string) (chartDir, valuesFile string) {
	t.Helper()
	chartDir = filepath.Join(dir, "demo")
	files := map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\nannotations:\n  helm.sh/images: |\n" +
			"    - name: tool\n      image: " + srcHost + "/tools/tool:1.0\n",
		"values.yaml": "image: " + srcHost + "/team/app-a:1.0\n",
		"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers:
        - name: main
          image: {{ .Values.image }}
`,
	}
	for n, c := range files {
		p := filepath.Join(chartDir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The values given to the bundle choose another image than the default.
	valuesFile = filepath.Join(dir, "values-prod.yaml")
	if err := os.WriteFile(valuesFile, []byte("image: "+srcHost+"/team/app-b:1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return chartDir, valuesFile
}

func helmEnv(t *testing.T) {
	for _, v := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		t.Setenv(v, t.TempDir())
	}
}

func TestCreateVerifyPushEndToEnd(t *testing.T) {
	helm := requireTool(t, "helm")
	helmEnv(t)
	src := registrytest.New(t, registrytest.Options{})
	dst := registrytest.New(t, registrytest.Options{TLS: true, Username: "ci", Password: "s3cret"})
	f := newFixture(t, 2<<20)
	f.push(t, src.Host, src.Transport())
	dir := t.TempDir()
	chartDir, values := writeChart(t, dir, src.Host)

	spec := &Spec{
		Name:     "e2e",
		Registry: dst.Host + "/proj",
		Images: []ImageSpec{
			{Ref: src.Host + "/team/app-c:2.1"},
			{Ref: src.Host + "/team/multi:1.0"},
		},
		Charts: []ChartSpec{{Ref: chartDir, Values: []string{values}}},
	}
	out := filepath.Join(dir, "e2e.bundle")
	ctx := context.Background()
	res, err := Create(ctx, spec, CreateOptions{Output: out, Helm: helm, Compress: true, Registry: RegistryOptions{Transport: src.Transport()}})
	if err != nil {
		t.Fatal(err)
	}
	// app-b came from the values given, tool from the annotation; app-a, the
	// chart's default, must not be there.
	got := map[string]Image{}
	for _, im := range res.Manifest.Images {
		got[im.Repository+":"+im.Tag] = im
	}
	for _, want := range []string{"team/app-c:2.1", "team/multi:1.0", "team/app-b:1.0", "tools/tool:1.0"} {
		if _, ok := got[want]; !ok {
			t.Errorf("image %s missing from bundle manifest (have %v)", want, keys(got))
		}
	}
	if _, ok := got["team/app-a:1.0"]; ok || len(got) != 4 {
		t.Errorf("bundle holds %v, want exactly app-c, multi, app-b, tool", keys(got))
	}
	if m := got["team/multi:1.0"]; m.Digest != digestString(t, f.index["team/multi:1.0"]) || len(m.Platforms) != 2 {
		t.Errorf("index kept as %s %v, want the source index with 2 platforms", m.Digest, m.Platforms)
	}
	if _, err := Verify(ctx, out, VerifyOptions{Aggregate: res.Aggregate}); err != nil {
		t.Fatal(err)
	}

	push := PushOptions{
		Mapping:   Mapping{Registry: dst.Host + "/proj"},
		Registry:  RegistryOptions{CAFile: dst.CAFile, Username: dst.Username, Password: dst.Password},
		ChunkSize: 1 << 20,
	}
	pr, err := Push(ctx, out, push)
	if err != nil {
		t.Fatal(err)
	}
	if pr.BlobsMounted == 0 {
		t.Errorf("no blob was mounted across repositories: %+v", pr)
	}
	// Every digest is the same at the destination, the index included.
	kc := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: dst.Username, Password: dst.Password}))
	for _, it := range pr.Items {
		ref, err := name.ParseReference(it.Destination)
		if err != nil {
			t.Fatal(err)
		}
		d, err := remote.Head(ref, remote.WithTransport(dst.Transport()), kc)
		if err != nil {
			t.Fatalf("%s: %v", it.Destination, err)
		}
		if d.Digest.String() != it.Digest {
			t.Errorf("%s: digest %s at destination, %s in bundle", it.Destination, d.Digest, it.Digest)
		}
		if !strings.HasPrefix(it.Destination, dst.Host+"/proj/") {
			t.Errorf("%s is not under the project prefix", it.Destination)
		}
	}
	for _, ref := range []string{"team/app-b:1.0", "team/multi:1.0"} {
		want := got[ref].Digest
		if want == "" {
			continue
		}
		r, _ := name.ParseReference(dst.Host + "/proj/" + ref)
		d, err := remote.Head(r, remote.WithTransport(dst.Transport()), kc)
		if err != nil || d.Digest.String() != want {
			t.Errorf("%s at destination: %v %v, want %s", ref, d, err, want)
		}
	}
	if !strings.Contains(pr.Values, "imageRegistry: "+dst.Host+"/proj") {
		t.Errorf("helm values do not point at the registry:\n%s", pr.Values)
	}

	// The chart comes back with the real helm CLI.
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(helm, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("registry", "login", dst.Host, "--username", dst.Username, "--password", dst.Password, "--ca-file", dst.CAFile)
	pulled := t.TempDir()
	run("pull", "oci://"+dst.Host+"/proj/charts/demo", "--version", "0.1.0", "--ca-file", dst.CAFile, "--destination", pulled)
	if out := run("show", "chart", filepath.Join(pulled, "demo-0.1.0.tgz")); !strings.Contains(out, "name: demo") {
		t.Fatalf("pulled chart is not demo:\n%s", out)
	}

	// A second push of what the registry holds sends nothing.
	pr2, err := Push(ctx, out, push)
	if err != nil {
		t.Fatal(err)
	}
	if pr2.BytesUploaded != 0 || pr2.ItemsSkipped != len(pr2.Items) {
		t.Fatalf("second push uploaded %d bytes, skipped %d of %d items", pr2.BytesUploaded, pr2.ItemsSkipped, len(pr2.Items))
	}
}

func keys(m map[string]Image) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
