package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/controlplane"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
	"github.com/enclave-mlops/enclave/internal/version"
)

const adminPassword = "doctor-admin-password"

// controlPlaneHandler is a real control plane on SQLite.
func controlPlaneHandler(t *testing.T) http.Handler {
	t.Helper()
	srv, err := controlplane.New(context.Background(), controlplane.Config{
		Listen: "127.0.0.1:0", DatabaseURL: sqldbtest.URL(t, "sqlite"),
		AdminUsername: "admin", AdminPassword: adminPassword,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Handler()
}

// find returns the check of name whose target contains target.
func find(t *testing.T, rep Report, name, target string) Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name && strings.Contains(c.Target, target) {
			return c
		}
	}
	var b bytes.Buffer
	rep.WriteText(&b)
	t.Fatalf("no %s check of %s in:\n%s", name, target, b.String())
	return Check{}
}

func expect(t *testing.T, c Check, st Status, detail string) {
	t.Helper()
	if c.Status != st || !strings.Contains(c.Detail, detail) {
		t.Errorf("%s %s: %s %q, want %s and %q", c.Name, c.Target, c.Status, c.Detail, st, detail)
	}
}

func runDoctor(t *testing.T, cfg Config) Report {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"0.1.0", "0.1.0", 0},
		{"v0.1.0", "0.1.0", 0},
		{"0.1.1", "0.1.0", 1},
		{"0.2.0", "0.10.0", -1},
		{"1.0.0", "0.99.99", 1},
		{"1.0", "1.0.0", 0},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0-rc.2", "1.0.0-rc.10", -1},
		{"1.0.0-alpha", "1.0.0-1", 1},
		{"1.0.0-rc.1", "1.0.0-rc.1.1", -1},
		{"1.0.0+build.5", "1.0.0", 0},
	} {
		got, err := compareVersions(tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("compare(%s, %s) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "dev", "1.x.0", "1.2.3.4", "1.0.0-", "-1.0.0"} {
		if _, err := compareVersions(bad, "1.0.0"); err == nil {
			t.Errorf("compare(%q) accepted", bad)
		}
	}
}

func TestTLS(t *testing.T) {
	h := controlPlaneHandler(t)
	ca := newTestCA(t, "Enclave Test CA")
	other := newTestCA(t, "Other CA")
	now := time.Now()
	day := 24 * time.Hour
	for _, tc := range []struct {
		name   string
		cert   certSpec
		caFile string
		want   Status
		detail string
	}{
		{"valid", certSpec{ca, now.Add(-day), now.Add(90 * day), nil}, ca.file, OK, "(89 days)"},
		{"near expiry", certSpec{ca, now.Add(-day), now.Add(10 * day), nil}, ca.file, Warn, "fewer than 30 days left"},
		{"expired", certSpec{ca, now.Add(-30 * day), now.Add(-2 * day), nil}, ca.file, Fail, "expired"},
		{"not yet valid", certSpec{ca, now.Add(2 * day), now.Add(90 * day), nil}, ca.file, Fail, "not valid before"},
		{"other CA", certSpec{other, now.Add(-day), now.Add(90 * day), nil}, ca.file, Fail, "unknown authority CN=Other CA: not the CA in " + ca.file},
		{"system roots", certSpec{ca, now.Add(-day), now.Add(90 * day), nil}, "", Fail, "unknown authority CN=Enclave Test CA: give the internal CA with --ca-file"},
		{"wrong host", certSpec{ca, now.Add(-day), now.Add(90 * day), []string{"cp.example.com"}}, ca.file, Fail, "certificate is for cp.example.com, 127.0.0.1, not localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := serveTLS(t, h, tc.cert.ca.issue(t, tc.cert.from, tc.cert.to, tc.cert.names...))
			rep := runDoctor(t, Config{ControlPlane: u, CAFile: tc.caFile, WarnDays: 30})
			expect(t, find(t, rep, "tls", "localhost"), tc.want, tc.detail)
			health := find(t, rep, "health", u)
			if tc.want == Fail {
				if rep.OK || health.Status != Skip {
					t.Errorf("ok %v, health %s after a failed TLS check", rep.OK, health.Status)
				}
				return
			}
			expect(t, health, OK, "200")
			expect(t, find(t, rep, "version", u), OK, "enclave-controlplane "+version.Version)
			if !rep.OK {
				t.Error("the report failed")
			}
		})
	}
}

type certSpec struct {
	ca       *testCA
	from, to time.Time
	names    []string
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stopped := "http://" + ln.Addr().String()
	ln.Close()
	rep := runDoctor(t, Config{ControlPlane: "http://doctor-test.invalid:8080", Workspaces: []string{stopped}})
	expect(t, find(t, rep, "dns", "doctor-test.invalid"), Fail, "does not resolve")
	expect(t, find(t, rep, "tcp", ln.Addr().String()), Fail, "connection refused")
	expect(t, find(t, rep, "health", stopped), Skip, "not reachable")
	if rep.OK {
		t.Error("the report passed")
	}
	for _, c := range rep.Checks {
		if c.Name == "dns" && strings.HasPrefix(c.Target, "127.") {
			t.Errorf("an IP literal was looked up: %+v", c)
		}
	}
}

// enrolledWorkspace creates a workspace and, unless health is empty, reports
// its status the way a workspace server does, with its enrollment key.
func enrolledWorkspace(t *testing.T, cp *client.ControlPlane, orgID, name, health, ver string) client.ControlPlaneWorkspace {
	t.Helper()
	ctx := context.Background()
	w, err := cp.CreateWorkspace(ctx, orgID, name, true)
	if err != nil {
		t.Fatal(err)
	}
	if health == "" {
		return w
	}
	h := client.HTTP{BaseURL: cp.BaseURL}
	var tok client.Token
	if err := h.PostForm(ctx, "/api/v1/auth/login", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {w.ID}, "client_secret": {w.EnrollmentKey},
	}, &tok); err != nil {
		t.Fatal(err)
	}
	h.Token = tok.AccessToken
	if err := h.Do(ctx, http.MethodPatch, "/api/v1/workspace_status", nil, map[string]string{
		"version": ver, "health": health, "url": "https://" + name + ".internal", "database_type": "sqlite",
	}, nil); err != nil {
		t.Fatal(err)
	}
	return w
}

// infoServer is a test double of a workspace server: it answers only /health
// and /api/v1/info, with the version and workspace id the test chooses, which
// a real server would not let a test choose.
func infoServer(t *testing.T, ver, workspaceID, apiURL string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `"OK"`) })
	mux.HandleFunc("GET /api/v1/info", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"version": ver, "deployment_type": "cloud", "database_type": "sqlite", "pro_api_url": apiURL,
			"pro_workspace_id": workspaceID, "pro_workspace_name": "double", "pro_organization_name": "acme",
		})
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestEnrollmentAndSkew(t *testing.T) {
	ts := httptest.NewServer(controlPlaneHandler(t))
	t.Cleanup(ts.Close)
	ctx := context.Background()
	cp := client.NewControlPlane(ts.URL, "", nil)
	if err := cp.Login(ctx, "admin", adminPassword); err != nil {
		t.Fatal(err)
	}
	org, err := cp.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	good := enrolledWorkspace(t, cp, org.ID, "good", "healthy", version.Version)
	enrolledWorkspace(t, cp, org.ID, "silent", "", "")
	enrolledWorkspace(t, cp, org.ID, "sick", "unhealthy", version.Version)
	enrolledWorkspace(t, cp, org.ID, "ahead", "healthy", "99.0.0")
	if _, err := cp.CreateWorkspace(ctx, org.ID, "placeholder", false); err != nil {
		t.Fatal(err)
	}
	newer := infoServer(t, "99.0.0", good.ID, ts.URL+"/api/v1")
	matching := infoServer(t, version.Version, good.ID, "http://controlplane.svc/api/v1")
	orphan := infoServer(t, version.Version, "00000000-0000-0000-0000-000000000000", ts.URL+"/api/v1")

	rep := runDoctor(t, Config{ControlPlane: ts.URL, Workspaces: []string{newer, matching, orphan},
		Username: "admin", Password: adminPassword})
	expect(t, find(t, rep, "login", "admin"), OK, "logged in")
	expect(t, find(t, rep, "enrollment", "acme/good"), OK, "reports healthy, version "+version.Version)
	expect(t, find(t, rep, "skew", "acme/good"), OK, "not newer")
	expect(t, find(t, rep, "enrollment", "acme/silent"), Warn, "never reported")
	expect(t, find(t, rep, "enrollment", "acme/sick"), Fail, "reports unhealthy")
	expect(t, find(t, rep, "skew", "acme/ahead"), Fail, "as last reported 99.0.0, newer than "+version.Version+" (the control plane)")
	expect(t, find(t, rep, "enrollment", "acme/placeholder"), Warn, "not enrolled")

	expect(t, find(t, rep, "health", newer), OK, "200")
	expect(t, find(t, rep, "enrollment", newer), OK, "enrolled as acme/good")
	expect(t, find(t, rep, "skew", newer), Fail, "running 99.0.0, newer than")
	expect(t, find(t, rep, "info", matching), Warn, "it reports to http://controlplane.svc/api/v1")
	expect(t, find(t, rep, "skew", matching), OK, "not newer")
	expect(t, find(t, rep, "enrollment", orphan), Fail, "is not on the control plane")
	if rep.OK {
		t.Error("the report passed")
	}

	// Stale reports warn; the clock is the test's.
	later := runDoctor(t, Config{ControlPlane: ts.URL, Username: "admin", Password: adminPassword,
		Now: func() time.Time { return time.Now().Add(time.Hour) }})
	expect(t, find(t, later, "enrollment", "acme/good"), Warn, "no report for over 15m0s")

	// A wrong password fails the login and nothing after it.
	bad := runDoctor(t, Config{ControlPlane: ts.URL, Username: "admin", Password: "wrong-password"})
	expect(t, find(t, bad, "login", "admin"), Fail, "wrong username or password")
	for _, c := range bad.Checks {
		if c.Name == "enrollment" {
			t.Errorf("enrollment checked without a login: %+v", c)
		}
	}
}

func TestReportOutput(t *testing.T) {
	ts := httptest.NewServer(controlPlaneHandler(t))
	t.Cleanup(ts.Close)
	rep := runDoctor(t, Config{ControlPlane: ts.URL})
	if !rep.OK {
		t.Fatalf("report %+v", rep)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if len(lines) != len(rep.Checks) {
		t.Fatalf("%d lines for %d checks:\n%s", len(lines), len(rep.Checks), text.String())
	}
	for i, l := range lines {
		if f := strings.Fields(l); len(f) < 3 || f[0] != string(rep.Checks[i].Status) || f[1] != rep.Checks[i].Name {
			t.Errorf("line %q for %+v", l, rep.Checks[i])
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || !back.OK || len(back.Checks) != len(rep.Checks) {
		t.Fatalf("JSON %s: %v", js.String(), err)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{ControlPlane: "cp.example.com"},
		{ControlPlane: "http://cp", Workspaces: []string{"ftp://ws"}},
		{ControlPlane: "http://cp", CAFile: "/nonexistent/ca.pem"},
		{ControlPlane: "http://cp", CAFile: "doctor.go"},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) accepted", cfg)
		}
	}
}
