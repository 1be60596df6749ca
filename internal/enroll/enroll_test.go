package enroll

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/controlplane"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

const adminPassword = "enroll-admin-password"

// startControlPlane runs a real control plane on SQLite and returns its URL
// and an administrator's client.
func startControlPlane(t *testing.T) (string, *client.ControlPlane) {
	t.Helper()
	srv, err := controlplane.New(context.Background(), controlplane.Config{
		Listen: "127.0.0.1:0", DatabaseURL: sqldbtest.URL(t, "sqlite"),
		AdminUsername: "admin", AdminPassword: adminPassword,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	cp := client.NewControlPlane(ts.URL, "", nil)
	if err := cp.Login(context.Background(), "admin", adminPassword); err != nil {
		t.Fatal(err)
	}
	return ts.URL, cp
}

// flagsOptions are the options of a run by flags only.
func flagsOptions(base, dir string) Options {
	return Options{URL: base, Password: adminPassword, PasswordGiven: true,
		Workspace: "ml", Output: filepath.Join(dir, "values.yaml")}
}

// keyWorks reports whether key logs workspace id in, as the server will.
func keyWorks(base, id, key string) error {
	h := client.HTTP{BaseURL: base}
	return h.PostForm(context.Background(), "/api/v1/auth/login", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {key},
	}, nil)
}

func TestRunByFlags(t *testing.T) {
	base, cp := startControlPlane(t)
	ctx := context.Background()
	org, err := cp.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := flagsOptions(base, dir)
	o.Organization = "acme" // by name
	o.DatabaseURL = "mysql://u:p@db:3306/ml"
	var out bytes.Buffer
	res, err := Run(ctx, o, nil, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if res.Organization.ID != org.ID || res.Workspace != "ml" || res.Output != o.Output {
		t.Fatalf("result %+v", res)
	}
	b, err := os.ReadFile(o.Output)
	if err != nil {
		t.Fatal(err)
	}
	v := parseValues(t, b)
	if v.Zenml.Pro.WorkspaceID != res.WorkspaceID || v.Zenml.Pro.OrganizationID != org.ID || *v.Zenml.Database.URL != o.DatabaseURL {
		t.Fatalf("values %+v", v.Zenml)
	}
	if err := keyWorks(base, res.WorkspaceID, v.Zenml.Pro.EnrollmentKey); err != nil {
		t.Fatalf("the written key does not log the workspace in: %v", err)
	}
	if strings.Contains(out.String(), v.Zenml.Pro.EnrollmentKey) {
		t.Fatalf("the output shows the enrollment key:\n%s", out.String())
	}
	for _, want := range []string{"Login successful.", "Workspace enrolled successfully: ml [" + res.WorkspaceID + "]", o.Output} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// The same name again: refused without --overwrite, and nothing changes.
	o.Output = filepath.Join(dir, "second.yaml")
	o.Organization = org.ID // by id
	_, err = Run(ctx, o, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("second enrollment: %v", err)
	}
	if _, err := os.Stat(o.Output); !os.IsNotExist(err) {
		t.Fatalf("a refused enrollment wrote %s: %v", o.Output, err)
	}
	if err := keyWorks(base, res.WorkspaceID, v.Zenml.Pro.EnrollmentKey); err != nil {
		t.Fatalf("the refused enrollment changed the workspace: %v", err)
	}

	// With --overwrite the old workspace goes and its key with it.
	o.Overwrite = true
	res2, err := Run(ctx, o, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Replaced != res.WorkspaceID || res2.WorkspaceID == res.WorkspaceID {
		t.Fatalf("overwrite result %+v", res2)
	}
	if err := keyWorks(base, res.WorkspaceID, v.Zenml.Pro.EnrollmentKey); client.StatusOf(err) != http.StatusUnauthorized {
		t.Fatalf("the replaced workspace's key: %v, want 401", err)
	}
}

func TestRunCreatesOrganization(t *testing.T) {
	base, cp := startControlPlane(t)
	dir := t.TempDir()
	o := flagsOptions(base, dir)
	o.CreateOrganization = "research"

	// A bad answer found after the login leaves no organization behind.
	bad := o
	bad.Output = filepath.Join(dir, "missing", "values.yaml")
	if _, err := Run(context.Background(), bad, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Fatalf("unwritable output: %v", err)
	}
	if orgs, err := cp.ListOrganizations(context.Background()); err != nil || len(orgs) != 0 {
		t.Fatalf("organizations after a failed run: %+v, %v", orgs, err)
	}

	res, err := Run(context.Background(), o, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	orgs, err := cp.ListOrganizations(context.Background())
	if err != nil || len(orgs) != 1 || orgs[0].Name != "research" || orgs[0].ID != res.Organization.ID {
		t.Fatalf("organizations %+v, %v", orgs, err)
	}
}

// Without a terminal every missing answer is an error naming its flag, found
// before anything is created.
func TestRunByFlagsMissingAnswers(t *testing.T) {
	base, cp := startControlPlane(t)
	if _, err := cp.CreateOrganization(context.Background(), "acme", ""); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"url", func(o *Options) { o.URL = "" }, "--url"},
		{"bad url", func(o *Options) { o.URL = "cp.example.com" }, "--url"},
		{"password", func(o *Options) { o.PasswordGiven = false }, "--password-file"},
		{"organization", func(o *Options) { o.Organization = "" }, "--organization"},
		{"unknown organization", func(o *Options) { o.Organization = "nope" }, "--organization"},
		{"both organizations", func(o *Options) { o.CreateOrganization = "x" }, "--create-organization"},
		{"workspace", func(o *Options) { o.Workspace = "" }, "--workspace"},
		{"bad workspace", func(o *Options) { o.Workspace = "ML_Team" }, "--workspace"},
		{"database", func(o *Options) { o.DatabaseURL = "oracle://db" }, "--database-url"},
		{"server url", func(o *Options) { o.ServerURL = "ml.internal" }, "--server-url"},
		{"ingress host", func(o *Options) { o.IngressHost = "https://ml.internal" }, "--ingress-host"},
		{"class without host", func(o *Options) { o.IngressClass = "nginx" }, "--ingress-class"},
		{"tls without host", func(o *Options) { o.TLSSecret = "tls" }, "--tls-secret"},
		{"output folder", func(o *Options) { o.Output = filepath.Join(dir, "missing", "v.yaml") }, "--output"},
		{"wrong password", func(o *Options) { o.Password = "wrong-password" }, "401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := flagsOptions(base, dir)
			o.Organization = "acme"
			tc.mutate(&o)
			_, err := Run(context.Background(), o, nil, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
	ws, err := cp.ListWorkspaces(context.Background(), "", "")
	if err != nil || len(ws) != 0 {
		t.Fatalf("failed runs left workspaces: %+v, %v", ws, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("failed runs left files: %v", entries)
	}
}

// On a terminal the missing answers are asked for with the seed's questions.
func TestRunAsks(t *testing.T) {
	base, cp := startControlPlane(t)
	ctx := context.Background()
	first, err := cp.CreateOrganization(ctx, "first", "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := cp.CreateOrganization(ctx, "second", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	answers := strings.Join([]string{
		base,      // URL
		"",        // username: the default
		"nope",    // not an organization id
		second.ID, // organization
		"Bad_Name",
		"team-a", // workspace
	}, "\n") + "\n"
	var out bytes.Buffer
	password := func(_ context.Context, prompt func()) (string, error) { prompt(); return adminPassword, nil }
	p := NewPrompter(strings.NewReader(answers), &out, password)
	res, err := Run(ctx, Options{Output: filepath.Join(dir, "v.yaml")}, p, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if res.Organization.ID != second.ID || res.Workspace != "team-a" {
		t.Fatalf("result %+v", res)
	}
	for _, want := range []string{
		"What is the URL of your ZenML Pro instance? (e.g. https://zenml-pro.mydomain.com): ",
		"Enter the ZenML Pro admin account username [admin]: ",
		"Enter the ZenML Pro admin account password: ",
		"The following organizations are available:\nfirst [" + first.ID + "]\nsecond [" + second.ID + "]\n",
		"Which organization ID should the workspace be enrolled in?: ",
		"Invalid organization ID. Please try again.",
		"Choose a name for the workspace (only lowercase letters, numbers, and hyphens) [zenml-",
		`workspace name "Bad_Name" may hold only`,
		"Workspace enrolled successfully: team-a",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the session lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunDeclines(t *testing.T) {
	base, cp := startControlPlane(t)
	ctx := context.Background()
	org, err := cp.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.CreateWorkspace(ctx, org.ID, "taken", true); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, answers := range map[string]string{
		"organization": "\n",           // Use this organization? [n]
		"overwrite":    "y\ntaken\n\n", // yes, the name taken, Overwrite? [n]
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			o := flagsOptions(base, dir)
			o.Username, o.Workspace = "admin", ""
			p := NewPrompter(strings.NewReader(answers), &out, nil)
			res, err := Run(ctx, o, p, &out)
			if err != nil || !res.Declined || !strings.HasSuffix(out.String(), "Exiting.\n") {
				t.Fatalf("res %+v, err %v:\n%s", res, err, out.String())
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("declined runs left files: %v", entries)
	}
	ws, _ := cp.ListWorkspaces(ctx, org.ID, "")
	if len(ws) != 1 {
		t.Fatalf("workspaces after declining: %+v", ws)
	}
}

// Input that ends early is an error, not a hang or a default.
func TestRunInputEnds(t *testing.T) {
	base, _ := startControlPlane(t)
	p := NewPrompter(strings.NewReader(base+"\n"), io.Discard, nil)
	_, err := Run(context.Background(), Options{}, p, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "input ended") {
		t.Fatalf("err = %v", err)
	}
}
