package controlplane_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/controlplane"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

const adminPassword = "admin-password-1"

// env is a running control plane with a controllable clock.
type env struct {
	t       testing.TB
	url     string
	handler http.Handler
	admin   *client.ControlPlane
	clock   atomic.Int64 // unix nanoseconds
}

func newEnv(t testing.TB, dbURL string) *env {
	t.Helper()
	e := &env{t: t}
	e.clock.Store(time.Now().UnixNano())
	cfg := controlplane.Config{
		Listen: "127.0.0.1:0", DatabaseURL: dbURL, AdminUsername: "admin", AdminPassword: adminPassword,
		ServerURL: "http://cp.test",
		Now:       func() time.Time { return time.Unix(0, e.clock.Load()) },
	}
	srv, err := controlplane.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e.url = ts.URL
	e.handler = srv.Handler()
	e.admin = e.client("")
	if err := e.admin.Login(context.Background(), "admin", adminPassword); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) client(token string) *client.ControlPlane {
	return client.NewControlPlane(e.url, token, nil)
}

// user creates a user and returns a client logged in as it.
func (e *env) user(name string) (*client.ControlPlane, client.Account) {
	e.t.Helper()
	u, err := e.admin.CreateUser(context.Background(), name, name+"-password", name+"@example.com")
	if err != nil {
		e.t.Fatal(err)
	}
	c := e.client("")
	if err := c.Login(context.Background(), name, name+"-password"); err != nil {
		e.t.Fatal(err)
	}
	return c, u
}

// do sends a raw request and returns the status and body.
func (e *env) do(method, path, token, contentType string, body []byte) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) doJSON(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var b []byte
	ct := ""
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
		ct = "application/json"
	}
	return e.do(method, path, token, ct, b)
}

func (e *env) login(form url.Values) (int, []byte) {
	return e.do("POST", "/api/v1/auth/login", "", "application/x-www-form-urlencoded", []byte(form.Encode()))
}

// checkErrorShape fails unless body is the wire's error shape.
func checkErrorShape(t testing.TB, status int, body []byte) {
	t.Helper()
	var eb struct {
		Detail []string `json:"detail"`
	}
	if err := json.Unmarshal(body, &eb); err != nil || len(eb.Detail) != 2 || eb.Detail[0] == "" || eb.Detail[1] == "" {
		t.Fatalf("status %d: body %q is not {\"detail\": [class, message]}", status, body)
	}
	if strings.Contains(strings.ToLower(eb.Detail[1]), "sql") {
		t.Fatalf("error message leaks internals: %q", eb.Detail[1])
	}
}

func each(t *testing.T, fn func(t *testing.T, dbURL string)) { sqldbtest.Each(t, fn) }
