package controlplane_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// serve sends one request straight to the handler.
func (e *env) serve(method, target, token, ct, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

func checkFuzzAnswer(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	if rec.Code >= 400 {
		checkErrorShape(t, rec.Code, rec.Body.Bytes())
	}
}

func FuzzLoginForm(f *testing.F) {
	for _, s := range []string{
		"grant_type=&username=admin&password=" + adminPassword,
		"grant_type=password&username=admin&password=x",
		"grant_type=client_credentials&client_id=00000000-0000-0000-0000-000000000000&client_secret=k",
		"grant_type=refresh_token&refresh_token=a.b.c",
		"username=%zz", "username=a&username=b", "", "&&&==", "grant_type=" + strings.Repeat("x", 5000),
	} {
		f.Add(s)
	}
	e := fuzzEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		rec := e.serve("POST", "/api/v1/auth/login", "", "application/x-www-form-urlencoded", body)
		checkFuzzAnswer(t, rec)
		if rec.Code == 200 {
			form, _ := url.ParseQuery(body)
			if form.Get("password") != adminPassword {
				t.Fatalf("login succeeded without the password: %q", body)
			}
		}
	})
}

func FuzzJSONBodies(f *testing.F) {
	targets := []string{"POST /api/v1/organizations", "POST /api/v1/workspaces?enroll=True", "POST /api/v1/users",
		"PUT /api/v1/current-user/password", "POST /api/v1/invitations/accept"}
	for i := range targets {
		for _, s := range []string{`{"name":"x"}`, `{"name":"ws-1","organization_id":"00000000-0000-0000-0000-000000000000"}`,
			`{"username":"u","password":"password1"}`, `[]`, `null`, `{"name":{"a":1}}`, `{"name":"\ud800"}`, `{`, `"` + strings.Repeat("a", 100) + `"`} {
			f.Add(uint8(i), s)
		}
	}
	e := fuzzEnv(f)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		method, path, _ := strings.Cut(targets[int(which)%len(targets)], " ")
		checkFuzzAnswer(t, e.serve(method, path, e.admin.Token, "application/json", body))
	})
}

func FuzzQuery(f *testing.F) {
	for _, s := range []string{"organization_id=00000000-0000-0000-0000-000000000000", "workspace_name=a&workspace_name=b",
		"organization_id=%00", "enroll=True", "x=y", "server_id=" + strings.Repeat("9", 100), "user_id=&action=read&resource=pipeline_run"} {
		f.Add(uint8(0), s)
		f.Add(uint8(1), s)
		f.Add(uint8(2), s)
	}
	paths := []string{"/api/v1/workspaces", "/api/v1/users/authorize_server", "/api/v1/organizations"}
	e := fuzzEnv(f)
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		target := paths[int(which)%len(paths)] + "?" + query
		if _, err := url.ParseRequestURI(target); err != nil || strings.ContainsFunc(target, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return // not a request a client could send: a request line holds no blanks or control characters
		}
		checkFuzzAnswer(t, e.serve("GET", target, e.admin.Token, "", ""))
	})
}

// fuzzEnv starts one control plane for a whole fuzz run: a server per input
// would measure start-up, not input handling.
func fuzzEnv(f *testing.F) *env {
	e := newEnv(f, sqldbtest.URL(f, "sqlite"))
	if _, err := e.admin.CreateOrganization(context.Background(), "fuzz", ""); err != nil {
		f.Fatal(err)
	}
	return e
}
