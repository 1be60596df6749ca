package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/kubetest"
	"github.com/enclave-mlops/enclave/internal/uptest"
)

const enrollWorkspaceChart = "../../charts/workspace"

// enrollValues is the part of a written values file the tests look at.
type enrollValues struct {
	Zenml struct {
		Database struct {
			URL string `json:"url"`
		} `json:"database"`
		Image struct {
			Repository string `json:"repository"`
			Tag        string `json:"tag"`
		} `json:"image"`
		ServerURL string `json:"serverURL"`
		Ingress   struct {
			Enabled   bool   `json:"enabled"`
			Host      string `json:"host"`
			ClassName string `json:"className"`
			TLS       struct {
				Enabled    bool   `json:"enabled"`
				SecretName string `json:"secretName"`
			} `json:"tls"`
		} `json:"ingress"`
		Pro struct {
			Enabled          bool   `json:"enabled"`
			APIURL           string `json:"apiURL"`
			DashboardURL     string `json:"dashboardURL"`
			EnrollmentKey    string `json:"enrollmentKey"`
			OrganizationID   string `json:"organizationID"`
			OrganizationName string `json:"organizationName"`
			WorkspaceID      string `json:"workspaceID"`
			WorkspaceName    string `json:"workspaceName"`
		} `json:"pro"`
		SecretsStore struct {
			Type string `json:"type"`
			SQL  struct {
				EncryptionKey string `json:"encryptionKey"`
			} `json:"sql"`
		} `json:"secretsStore"`
	} `json:"zenml"`
}

var enrollHex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// enrollCheckFile checks a written values file: mode 0600, the pro section
// of a workspace of org, a fresh encryption key, and an enrollment key that
// logs the workspace in and that was never shown.
func enrollCheckFile(t *testing.T, base, path, name string, org client.Organization, shown ...string) enrollValues {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v enrollValues
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatalf("values file is not YAML: %v\n%s", err, raw)
	}
	p := v.Zenml.Pro
	if !p.Enabled || p.APIURL != base+"/api/v1" || p.DashboardURL != base || p.WorkspaceName != name ||
		p.OrganizationID != org.ID || p.OrganizationName != org.Name || p.WorkspaceID == "" || p.EnrollmentKey == "" {
		t.Fatalf("pro section %+v", p)
	}
	if v.Zenml.SecretsStore.Type != "sql" || !enrollHex64.MatchString(v.Zenml.SecretsStore.SQL.EncryptionKey) {
		t.Errorf("secrets store %+v", v.Zenml.SecretsStore)
	}
	h := client.HTTP{BaseURL: base}
	if err := h.PostForm(context.Background(), "/api/v1/auth/login", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {p.WorkspaceID}, "client_secret": {p.EnrollmentKey},
	}, nil); err != nil {
		t.Fatalf("the written enrollment key does not log the workspace in: %v", err)
	}
	for _, s := range shown {
		if strings.Contains(s, p.EnrollmentKey) {
			t.Fatalf("the enrollment key was shown:\n%s", s)
		}
	}
	return v
}

func TestEnrollCommand(t *testing.T) {
	bin := uptest.BuildEnclave(t)
	base, cp := enrollStartControlPlane(t)
	ctx := context.Background()
	org, err := cp.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("terminal", func(t *testing.T) {
		dir := t.TempDir()
		s := enrollStartTerminal(t, bin, dir, "enroll")
		s.expect("What is the URL of your ZenML Pro instance? (e.g. https://zenml-pro.mydomain.com): ", base)
		s.expect("Enter the ZenML Pro admin account username [admin]: ", "")
		s.expect("Enter the ZenML Pro admin account password: ", enrollAdminPassword)
		s.expect("The following organization was found: acme ["+org.ID+"]. Use this organization? (y/n) [n]: ", "y")
		s.expect("Choose a name for the workspace (only lowercase letters, numbers, and hyphens) [zenml-", "ml-team")
		out, code := s.wait()
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if strings.Contains(out, enrollAdminPassword) {
			t.Errorf("the password was echoed:\n%s", out)
		}
		for _, want := range []string{
			"Login successful.",
			"Workspace enrolled successfully: ml-team [",
			base + "/workspaces/ml-team",
			"The workspace server Helm values were written to: zenml-ml-team-values.yaml",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		enrollCheckFile(t, base, filepath.Join(dir, "zenml-ml-team-values.yaml"), "ml-team", org, out)
	})

	t.Run("terminal declines overwrite", func(t *testing.T) {
		dir := t.TempDir()
		s := enrollStartTerminal(t, bin, dir, "enroll", "--url", base, "--organization", "acme", "--workspace", "ml-team")
		s.expect("username [admin]: ", "admin")
		s.expect("password: ", enrollAdminPassword)
		s.expect("A workspace with name ml-team already exists. Overwrite? (y/n) [n]: ", "n")
		out, code := s.wait()
		if code != 0 || !strings.Contains(out, "Exiting.") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("declining wrote %v", entries)
		}
	})

	// The flags run writes into the parent's folder, which outlives it, for
	// the helm run.
	t.Run("terminal interrupted", func(t *testing.T) {
		s := enrollStartTerminal(t, bin, t.TempDir(), "enroll")
		s.expect("What is the URL of your ZenML Pro instance?", "\x03") // Ctrl-C
		out, code := s.wait()
		if code != 1 || !strings.Contains(out, "enclave: interrupted") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})

	t.Run("terminal non-interactive", func(t *testing.T) {
		s := enrollStartTerminal(t, bin, t.TempDir(), "enroll", "--non-interactive", "--url", base)
		out, code := s.wait()
		if code != 1 || !strings.Contains(out, "--password-file, --password-stdin or ENCLAVE_PASSWORD") || strings.Contains(out, "Enter the") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})

	var flagsFile string
	flagsDir := t.TempDir()
	t.Run("flags", func(t *testing.T) {
		dir := flagsDir
		file := filepath.Join(dir, "ws.yaml")
		r := enrollRun(t, bin, dir, enrollAdminPassword+"\n", nil, "enroll",
			"--url", base, "--password-stdin", "--organization", org.ID, "--workspace", "ml-team", "--overwrite",
			"--output", file, "--database-url", "mysql://enclave:secret@mysql.internal:3306/ml",
			"--image-repository", "registry.internal/enclave/enclave", "--image-tag", "0.1.0",
			"--server-url", "https://ml.internal.example.com", "--ingress-host", "ml.internal.example.com",
			"--ingress-class", "nginx", "--tls-secret", "ml-tls")
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "Workspace deleted successfully: ") {
			t.Errorf("no deletion line:\n%s", r.stdout)
		}
		v := enrollCheckFile(t, base, file, "ml-team", org, r.stdout, r.stderr)
		z := v.Zenml
		if z.Database.URL != "mysql://enclave:secret@mysql.internal:3306/ml" || z.Image.Repository != "registry.internal/enclave/enclave" ||
			z.Image.Tag != "0.1.0" || z.ServerURL != "https://ml.internal.example.com" || !z.Ingress.Enabled ||
			z.Ingress.Host != "ml.internal.example.com" || z.Ingress.ClassName != "nginx" || !z.Ingress.TLS.Enabled || z.Ingress.TLS.SecretName != "ml-tls" {
			t.Errorf("values %+v", z)
		}
		ws, err := cp.ListWorkspaces(ctx, org.ID, "ml-team")
		if err != nil || len(ws) != 1 || ws[0].ID != v.Zenml.Pro.WorkspaceID || !ws[0].Enrolled {
			t.Fatalf("workspaces %+v, %v", ws, err)
		}
		flagsFile = file
	})

	t.Run("flags missing", func(t *testing.T) {
		dir := t.TempDir()
		for _, tc := range []struct {
			env  []string
			args []string
			want string
		}{
			{nil, []string{"--workspace", "x"}, "--url is required"},
			{nil, []string{"--url", base, "--organization", "acme", "--workspace", "x"}, "--password-file, --password-stdin or ENCLAVE_PASSWORD"},
			{[]string{"ENCLAVE_PASSWORD=" + enrollAdminPassword}, []string{"--url", base, "--workspace", "x"}, "--organization (id or name) or --create-organization is required"},
			{[]string{"ENCLAVE_PASSWORD=" + enrollAdminPassword}, []string{"--url", base, "--organization", "acme"}, "--workspace is required"},
			{[]string{"ENCLAVE_PASSWORD=" + enrollAdminPassword}, []string{"--url", base, "--organization", "acme", "--workspace", "ml-team"}, "pass --overwrite"},
			{nil, []string{"--url", base, "--password-file", filepath.Join(dir, "none"), "--organization", "acme", "--workspace", "x"}, "--password-file"},
		} {
			r := enrollRun(t, bin, dir, "", tc.env, append([]string{"enroll"}, tc.args...)...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("enroll %v: exit %d, stderr %q; want 1 and %q", tc.args, r.code, r.stderr, tc.want)
			}
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("failed runs wrote %v", entries)
		}
	})

	t.Run("helm", func(t *testing.T) {
		if flagsFile == "" {
			t.Skip("no values file from the flags run")
		}
		enrollInstall(t, flagsFile)
	})
}

// enrollInstall lints and renders the workspace chart with a written values
// file, then installs it into a real kube-apiserver (kwok plays the node).
func enrollInstall(t *testing.T, values string) {
	raw, err := os.ReadFile(values)
	if err != nil {
		t.Fatal(err)
	}
	var v enrollValues
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	h := enrollNewHelm(t, "")
	h.must(t, "lint", "--strict", enrollWorkspaceChart, "--values", values)
	manifest := h.must(t, "template", "zenml", enrollWorkspaceChart, "--namespace", "zenml-pro-ml-team", "--values", values)
	objects := enrollParseObjects(t, manifest)

	var creds struct {
		StringData map[string]string `json:"stringData"`
	}
	enrollObject(t, objects, "Secret", "zenml", &creds)
	if creds.StringData["enrollment-key"] != v.Zenml.Pro.EnrollmentKey || creds.StringData["store-url"] != v.Zenml.Database.URL {
		t.Errorf("Secret zenml does not carry the enrollment key and database URL: %v", enrollKeysOf(creds.StringData))
	}
	var keys struct {
		Data map[string]string `json:"data"`
	}
	enrollObject(t, objects, "Secret", "zenml-keys", &keys)
	if got, _ := base64.StdEncoding.DecodeString(keys.Data["encryption-key"]); string(got) != v.Zenml.SecretsStore.SQL.EncryptionKey {
		t.Errorf("the chart does not use the written encryption key")
	}
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Image string `json:"image"`
						Env   []struct {
							Name  string `json:"name"`
							Value string `json:"value"`
						} `json:"env"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	enrollObject(t, objects, "Deployment", "zenml", &dep)
	env := map[string]string{}
	c := dep.Spec.Template.Spec.Containers[0]
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if c.Image != "registry.internal/enclave/enclave:0.1.0" || env["ZENML_SERVER_PRO_WORKSPACE_ID"] != v.Zenml.Pro.WorkspaceID ||
		env["ZENML_SERVER_PRO_API_URL"] != v.Zenml.Pro.APIURL || env["ZENML_SERVER_URL"] != v.Zenml.ServerURL {
		t.Errorf("deployment: image %s, env %v", c.Image, env)
	}
	var ing struct {
		Spec struct {
			IngressClassName string `json:"ingressClassName"`
			TLS              []struct {
				SecretName string `json:"secretName"`
			} `json:"tls"`
			Rules []struct {
				Host string `json:"host"`
			} `json:"rules"`
		} `json:"spec"`
	}
	enrollObject(t, objects, "Ingress", "zenml", &ing)
	if ing.Spec.IngressClassName != "nginx" || len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "ml.internal.example.com" ||
		len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "ml-tls" {
		t.Errorf("ingress %+v", ing.Spec)
	}

	c2 := kubetest.Start(t)
	hc := enrollNewHelm(t, c2.Kubeconfig)
	ns := "zenml-pro-ml-team"
	c2.Kubectl(t, "create", "namespace", ns)
	hc.must(t, "install", "zenml", enrollWorkspaceChart, "-n", ns, "--values", values, "--dry-run=server")
	hc.must(t, "install", "zenml", enrollWorkspaceChart, "-n", ns, "--values", values, "--wait", "--timeout", "3m")
	var d struct {
		Spec   struct{ Replicas int }
		Status struct{ ReadyReplicas int }
	}
	if err := json.Unmarshal([]byte(c2.Kubectl(t, "-n", ns, "get", "deployment", "zenml", "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if d.Spec.Replicas != 1 || d.Status.ReadyReplicas != 1 {
		t.Errorf("deployment zenml: %d of %d replicas ready", d.Status.ReadyReplicas, d.Spec.Replicas)
	}
	key, err := base64.StdEncoding.DecodeString(c2.Kubectl(t, "-n", ns, "get", "secret", "zenml", "-o", "jsonpath={.data.enrollment-key}"))
	if err != nil || string(key) != v.Zenml.Pro.EnrollmentKey {
		t.Errorf("the installed Secret does not hold the written enrollment key (%v)", err)
	}
}

type enrollRendered struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	raw []byte
}

func enrollParseObjects(t *testing.T, manifest string) []enrollRendered {
	t.Helper()
	var out []enrollRendered
	for _, doc := range strings.Split("\n"+manifest, "\n---") {
		var o enrollRendered
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered object: %v\n%s", err, doc)
		}
		if o.Kind == "" {
			continue
		}
		o.raw = []byte(doc)
		out = append(out, o)
	}
	return out
}

func enrollObject(t *testing.T, objects []enrollRendered, kind, name string, into any) {
	t.Helper()
	for _, o := range objects {
		if o.Kind == kind && o.Metadata.Name == name {
			if err := yaml.Unmarshal(o.raw, into); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no %s/%s rendered", kind, name)
}

func enrollKeysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
