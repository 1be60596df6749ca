package enroll

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// chartValues is the part of the workspace chart's values the file sets.
type chartValues struct {
	Zenml struct {
		Database struct {
			URL *string `json:"url"`
		} `json:"database"`
		Image struct {
			Repository string  `json:"repository"`
			Tag        *string `json:"tag"`
		} `json:"image"`
		ServerURL *string `json:"serverURL"`
		Ingress   *struct {
			Enabled   bool    `json:"enabled"`
			Host      string  `json:"host"`
			ClassName *string `json:"className"`
			TLS       *struct {
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

func parseValues(t *testing.T, b []byte) chartValues {
	t.Helper()
	var v chartValues
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, b)
	}
	return v
}

func baseValues(t *testing.T) Values {
	key, err := NewEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	return Values{
		ControlPlaneURL: "https://cp.example.com/", OrganizationID: "org-id", OrganizationName: "acme",
		WorkspaceID: "ws-id", WorkspaceName: "ml", EnrollmentKey: "the-key", EncryptionKey: key,
	}
}

func TestRenderMinimal(t *testing.T) {
	b, err := baseValues(t).Render()
	if err != nil {
		t.Fatal(err)
	}
	v := parseValues(t, b)
	p := v.Zenml.Pro
	if !p.Enabled || p.APIURL != "https://cp.example.com/api/v1" || p.DashboardURL != "https://cp.example.com" ||
		p.EnrollmentKey != "the-key" || p.OrganizationID != "org-id" || p.OrganizationName != "acme" ||
		p.WorkspaceID != "ws-id" || p.WorkspaceName != "ml" {
		t.Errorf("pro = %+v", p)
	}
	if v.Zenml.Image.Repository != DefaultImageRepository || v.Zenml.Image.Tag != nil {
		t.Errorf("image = %+v", v.Zenml.Image)
	}
	if v.Zenml.Database.URL == nil || *v.Zenml.Database.URL != "" {
		t.Errorf("database url = %v, want present and empty (SQLite)", v.Zenml.Database.URL)
	}
	if v.Zenml.ServerURL != nil || v.Zenml.Ingress != nil {
		t.Errorf("serverURL %v, ingress %+v: set without being given", v.Zenml.ServerURL, v.Zenml.Ingress)
	}
	if v.Zenml.SecretsStore.Type != "sql" || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(v.Zenml.SecretsStore.SQL.EncryptionKey) {
		t.Errorf("secrets store = %+v", v.Zenml.SecretsStore)
	}
}

func TestRenderEverything(t *testing.T) {
	in := baseValues(t)
	in.DatabaseURL = "mysql://u:p@db:3306/ws"
	in.ImageRepository = "registry.internal/enclave"
	in.ImageTag = "0.1.0"
	in.ServerURL = "https://ml.internal"
	in.IngressHost = "ml.internal"
	in.IngressClass = "nginx"
	in.TLSSecret = "ml-tls"
	b, err := in.Render()
	if err != nil {
		t.Fatal(err)
	}
	v := parseValues(t, b)
	z := v.Zenml
	if *z.Database.URL != in.DatabaseURL || z.Image.Repository != in.ImageRepository || *z.Image.Tag != "0.1.0" || *z.ServerURL != in.ServerURL {
		t.Errorf("values = %+v", z)
	}
	if z.Ingress == nil || !z.Ingress.Enabled || z.Ingress.Host != "ml.internal" || *z.Ingress.ClassName != "nginx" ||
		z.Ingress.TLS == nil || !z.Ingress.TLS.Enabled || z.Ingress.TLS.SecretName != "ml-tls" {
		t.Errorf("ingress = %+v", z.Ingress)
	}
}

// Every value is quoted, so no answer can change the file's structure or
// type: not a colon, a quote, a newline, a comment sign or a YAML keyword.
func TestRenderQuotesEverything(t *testing.T) {
	for _, hostile := range []string{
		`a: b`, `"quoted"`, "two\nlines", `# comment`, `yes`, `null`, `0.10`, `{x: 1}`, `- item`, `\u0041`, "tab\there", `'single'`, `&anchor`, `*alias`,
	} {
		in := baseValues(t)
		in.OrganizationName = hostile
		in.DatabaseURL = "mysql://u:" + hostile + "@db/ws"
		b, err := in.Render()
		if err != nil {
			t.Fatal(err)
		}
		v := parseValues(t, b)
		if v.Zenml.Pro.OrganizationName != hostile || *v.Zenml.Database.URL != in.DatabaseURL {
			t.Errorf("%q came back as %q / %q", hostile, v.Zenml.Pro.OrganizationName, *v.Zenml.Database.URL)
		}
	}
}

func TestRenderRefusesIncompleteValues(t *testing.T) {
	for name, mutate := range map[string]func(*Values){
		"no key":              func(v *Values) { v.EnrollmentKey = "" },
		"no workspace id":     func(v *Values) { v.WorkspaceID = "" },
		"short encryption":    func(v *Values) { v.EncryptionKey = "abc" },
		"class without host":  func(v *Values) { v.IngressClass = "nginx" },
		"secret without host": func(v *Values) { v.TLSSecret = "tls" },
	} {
		v := baseValues(t)
		mutate(&v)
		if b, err := v.Render(); err == nil {
			t.Errorf("%s: rendered\n%s", name, b)
		}
	}
}

func TestEncryptionKeysDiffer(t *testing.T) {
	a, _ := NewEncryptionKey()
	b, _ := NewEncryptionKey()
	if a == b || len(a) != 64 {
		t.Fatalf("keys %q and %q", a, b)
	}
}

func TestOutputFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}

	// An aborted write leaves the old file and no temporary one.
	f, err := createOutput(target)
	if err != nil {
		t.Fatal(err)
	}
	f.abort()
	if b, _ := os.ReadFile(target); string(b) != "old" {
		t.Fatalf("after abort: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("after abort the folder holds %d entries", len(entries))
	}

	// A committed one replaces it, with mode 0600.
	if f, err = createOutput(target); err != nil {
		t.Fatal(err)
	}
	if err := f.commit([]byte("new")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Fatalf("after commit: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("after commit the folder holds %d entries", len(entries))
	}
}

func TestOutputFileRefusesBadTargets(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{"", dir, filepath.Join(dir, "missing", "values.yaml")} {
		if f, err := createOutput(path); err == nil {
			f.abort()
			t.Errorf("createOutput(%q) succeeded", path)
		} else if !strings.Contains(err.Error(), "--output") {
			t.Errorf("createOutput(%q): %v does not name --output", path, err)
		}
	}
}
