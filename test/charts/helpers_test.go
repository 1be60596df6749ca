// Package charts_test checks the Helm charts in charts/ with the real helm: lint,
// the objects they render for the seed's values files and for the values file the
// seed's enrollment script writes, the values schema, and install, upgrade and
// uninstall against a real kube-apiserver (internal/kubetest).
package charts_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const (
	controlplaneChart = "../../charts/controlplane"
	workspaceChart    = "../../charts/workspace"
	appVersion        = "0.1.0"
	defaultRepository = "ghcr.io/enclave-mlops/enclave"
)

func requireServices() bool { return os.Getenv("ENCLAVE_REQUIRE_SERVICES") == "1" }

// helm runs the real helm binary with its own cache, config and data folders.
type helm struct {
	bin string
	env []string
}

func newHelm(t *testing.T, kubeconfig string) *helm {
	t.Helper()
	bin, err := exec.LookPath("helm")
	if err != nil {
		cache := os.Getenv("ENCLAVE_CACHE")
		if cache == "" {
			cache = "/var/cache/enclave"
		}
		bin = filepath.Join(cache, "bin", "helm")
		if _, err := os.Stat(bin); err != nil {
			if requireServices() {
				t.Fatalf("helm not found on PATH or at %s", bin)
			}
			t.Skipf("helm not found on PATH or at %s (scripts/tools.sh builds it)", bin)
		}
	}
	home := t.TempDir()
	env := append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	if kubeconfig != "" {
		env = append(env, "KUBECONFIG="+kubeconfig)
	} else {
		// Nothing here may reach a cluster by accident.
		env = append(env, "KUBECONFIG="+filepath.Join(home, "no-kubeconfig"))
	}
	return &helm{bin: bin, env: env}
}

// run returns helm's standard output; the error carries its standard error.
func (h *helm) run(args ...string) (string, error) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (h *helm) must(t *testing.T, args ...string) string {
	t.Helper()
	start := time.Now()
	out, err := h.run(args...)
	if err != nil {
		t.Fatal(err)
	}
	if args[0] != "template" && args[0] != "lint" {
		t.Logf("helm %s %s: %v", args[0], args[1], time.Since(start).Round(time.Millisecond))
	}
	return out
}

// template renders a chart and parses every object.
func (h *helm) template(t *testing.T, release, namespace, chart string, values ...string) rendered {
	t.Helper()
	args := []string{"template", release, chart, "--namespace", namespace}
	for _, v := range values {
		args = append(args, "--values", v)
	}
	return parseObjects(t, h.must(t, args...))
}

// object is one rendered Kubernetes object; into decodes it into a typed view.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	raw []byte
}

func (o object) into(t *testing.T, v any) {
	t.Helper()
	if err := yaml.Unmarshal(o.raw, v); err != nil {
		t.Fatalf("decode %s/%s: %v", o.Kind, o.Metadata.Name, err)
	}
}

type rendered []object

func parseObjects(t *testing.T, manifest string) rendered {
	t.Helper()
	var out rendered
	for _, doc := range strings.Split("\n"+manifest, "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("parse rendered object: %v\n%s", err, doc)
		}
		if o.Kind == "" {
			t.Fatalf("rendered document without kind:\n%s", doc)
		}
		o.raw = []byte(doc)
		out = append(out, o)
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func (r rendered) find(kind, name string) (object, bool) {
	for _, o := range r {
		if o.Kind == kind && o.Metadata.Name == name {
			return o, true
		}
	}
	return object{}, false
}

func (r rendered) get(t *testing.T, kind, name string) object {
	t.Helper()
	o, ok := r.find(kind, name)
	if !ok {
		var have []string
		for _, o := range r {
			have = append(have, o.Kind+"/"+o.Metadata.Name)
		}
		t.Fatalf("no %s/%s rendered; have %v", kind, name, have)
	}
	return o
}

func (r rendered) kinds(kind string) []object {
	var out []object
	for _, o := range r {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// Typed views of the parts of objects the tests look at.

type secret struct {
	Data       map[string]string `json:"data"`
	StringData map[string]string `json:"stringData"`
}

// value returns a key of a Secret, whichever field holds it.
func (s secret) value(key string) (string, bool) {
	if v, ok := s.StringData[key]; ok {
		return v, true
	}
	if v, ok := s.Data[key]; ok {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return "", false
		}
		return string(b), true
	}
	return "", false
}

type envVar struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name string `json:"name"`
			Key  string `json:"key"`
		} `json:"secretKeyRef"`
	} `json:"valueFrom"`
}

type probe struct {
	HTTPGet *struct {
		Path string `json:"path"`
		Port any    `json:"port"`
	} `json:"httpGet"`
}

type container struct {
	Name    string   `json:"name"`
	Image   string   `json:"image"`
	Args    []string `json:"args"`
	Command []string `json:"command"`
	Env     []envVar `json:"env"`
	Ports   []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	Resources struct {
		Requests map[string]string `json:"requests"`
		Limits   map[string]string `json:"limits"`
	} `json:"resources"`
	SecurityContext struct {
		RunAsNonRoot             *bool  `json:"runAsNonRoot"`
		RunAsUser                *int64 `json:"runAsUser"`
		ReadOnlyRootFilesystem   *bool  `json:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool  `json:"allowPrivilegeEscalation"`
		Privileged               *bool  `json:"privileged"`
		Capabilities             struct {
			Drop []string `json:"drop"`
			Add  []string `json:"add"`
		} `json:"capabilities"`
		SeccompProfile struct {
			Type string `json:"type"`
		} `json:"seccompProfile"`
	} `json:"securityContext"`
	LivenessProbe  *probe `json:"livenessProbe"`
	ReadinessProbe *probe `json:"readinessProbe"`
	StartupProbe   *probe `json:"startupProbe"`
	VolumeMounts   []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
		ReadOnly  bool   `json:"readOnly"`
	} `json:"volumeMounts"`
}

type volume struct {
	Name     string    `json:"name"`
	EmptyDir *struct{} `json:"emptyDir"`
	Secret   *struct {
		SecretName string `json:"secretName"`
	} `json:"secret"`
	ConfigMap *struct {
		Name string `json:"name"`
	} `json:"configMap"`
	PersistentVolumeClaim *struct {
		ClaimName string `json:"claimName"`
	} `json:"persistentVolumeClaim"`
}

type podSpec struct {
	ServiceAccountName           string `json:"serviceAccountName"`
	AutomountServiceAccountToken *bool  `json:"automountServiceAccountToken"`
	RestartPolicy                string `json:"restartPolicy"`
	ImagePullSecrets             []struct {
		Name string `json:"name"`
	} `json:"imagePullSecrets"`
	SecurityContext struct {
		RunAsNonRoot   *bool  `json:"runAsNonRoot"`
		RunAsUser      *int64 `json:"runAsUser"`
		FSGroup        *int64 `json:"fsGroup"`
		SeccompProfile struct {
			Type string `json:"type"`
		} `json:"seccompProfile"`
	} `json:"securityContext"`
	Containers []container `json:"containers"`
	Volumes    []volume    `json:"volumes"`
}

type podTemplate struct {
	Metadata struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec podSpec `json:"spec"`
}

type deployment struct {
	Spec struct {
		Replicas *int `json:"replicas"`
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Template podTemplate `json:"template"`
	} `json:"spec"`
}

type job struct {
	Spec struct {
		BackoffLimit *int        `json:"backoffLimit"`
		Template     podTemplate `json:"template"`
	} `json:"spec"`
}

func envMap(t *testing.T, c container) map[string]envVar {
	t.Helper()
	m := map[string]envVar{}
	for _, e := range c.Env {
		if _, dup := m[e.Name]; dup {
			t.Errorf("container %s sets %s twice", c.Name, e.Name)
		}
		m[e.Name] = e
	}
	return m
}

// resolve returns what an environment variable holds, following a secretKeyRef
// into a Secret the chart rendered.
func (r rendered) resolve(t *testing.T, e envVar) string {
	t.Helper()
	if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		return e.Value
	}
	ref := e.ValueFrom.SecretKeyRef
	o, ok := r.find("Secret", ref.Name)
	if !ok {
		t.Fatalf("%s refers to Secret %s, which the chart does not render", e.Name, ref.Name)
	}
	var s secret
	o.into(t, &s)
	v, ok := s.value(ref.Key)
	if !ok {
		t.Fatalf("%s refers to key %s of Secret %s, which has no such key", e.Name, ref.Key, ref.Name)
	}
	return v
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
