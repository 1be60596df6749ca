package workspace

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/rbac"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// fakeCP is a control plane that implements exactly the calls a workspace
// makes, with grants the test sets.
type fakeCP struct {
	t           testing.TB
	workspaceID string
	key         string
	expiresIn   int

	mu       sync.Mutex
	logins   int
	valid    map[string]bool // workspace tokens it accepts
	statuses []workspaceStatus
	users    map[string]cpUser // user token → user
	denied   map[string]int    // user token → status of authorize_server
	grants   map[string]bool   // "user action resource" → allowed
	full     map[string]bool   // "user action type" → full access
	checks   int               // check_permissions calls
	deleted  []string
	status   chan struct{}
}

func newFakeCP(t testing.TB) (*fakeCP, *httptest.Server) {
	f := &fakeCP{t: t, workspaceID: newID(), key: "enrollment-key", expiresIn: 3600,
		valid: map[string]bool{}, users: map[string]cpUser{}, denied: map[string]int{},
		grants: map[string]bool{}, full: map[string]bool{}, status: make(chan struct{}, 16)}
	hs := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(hs.Close)
	return f, hs
}

func (f *fakeCP) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch r.Method + " " + r.URL.Path {
	case "POST /api/v1/auth/login":
		_ = r.ParseForm()
		if r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("client_id") != f.workspaceID || r.Form.Get("client_secret") != f.key || r.Form.Get("audience") == "" {
			reply(401, map[string]any{"detail": []string{"AuthorizationException", "bad credentials"}})
			return
		}
		f.logins++
		t := fmt.Sprintf("ws-token-%d", f.logins)
		f.valid[t] = true
		reply(200, map[string]any{"access_token": t, "token_type": "bearer", "expires_in": f.expiresIn})
		return
	case "GET /api/v1/users/authorize_server":
		if code := f.denied[tok]; code != 0 {
			reply(code, map[string]any{"detail": []string{"X", "no"}})
			return
		}
		u, ok := f.users[tok]
		if !ok || r.URL.Query().Get("server_id") != f.workspaceID {
			reply(401, map[string]any{"detail": []string{"AuthorizationException", "who?"}})
			return
		}
		reply(200, u)
		return
	}
	if !f.valid[tok] {
		reply(401, map[string]any{"detail": []string{"AuthorizationException", "token"}})
		return
	}
	q := r.URL.Query()
	switch r.Method + " " + r.URL.Path {
	case "PATCH /api/v1/workspace_status":
		var st workspaceStatus
		_ = json.NewDecoder(r.Body).Decode(&st)
		f.statuses = append(f.statuses, st)
		select {
		case f.status <- struct{}{}:
		default:
		}
		reply(200, map[string]any{})
	case "POST /api/v1/rbac/check_permissions":
		f.checks++
		var res []string
		_ = json.NewDecoder(r.Body).Decode(&res)
		out := map[string]bool{}
		for _, x := range res {
			out[x] = f.grants[q.Get("user_id")+" "+q.Get("action")+" "+x]
		}
		reply(200, out)
	case "GET /api/v1/rbac/allowed_resource_ids":
		key := q.Get("user_id") + " " + q.Get("action") + " " + q.Get("resource")
		var ids []string
		for g, ok := range f.grants {
			if ok && strings.HasPrefix(g, key+"/") {
				ids = append(ids, g[strings.LastIndex(g, "/")+1:])
			}
		}
		reply(200, map[string]any{"full_access": f.full[key], "ids": ids})
	case "DELETE /api/v1/rbac/resources":
		f.deleted = append(f.deleted, q.Get("resources"))
		reply(200, map[string]any{})
	default:
		reply(404, map[string]any{"detail": []string{"KeyError", r.URL.Path}})
	}
}

func (f *fakeCP) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func proConfig(t testing.TB, f *fakeCP, cpURL string) Config {
	cfg := testConfig(t, sqldbtest.URL(t, "sqlite"))
	cfg.DeploymentType = "cloud"
	cfg.DefaultUserPassword = ""
	cfg.ServerURL = "https://ws.example.com"
	cfg.Pro = ProConfig{APIURL: cpURL + "/api/v1", ClientSecret: f.key, Audience: cpURL + "/api/v1",
		WorkspaceID: f.workspaceID, WorkspaceName: "ws", OrganizationID: newID(), OrganizationName: "org"}
	return cfg
}

// TestProEnrollment: at start the workspace logs in with its client
// credentials and reports its status.
func TestProEnrollment(t *testing.T) {
	f, cp := newFakeCP(t)
	srv, _, _ := testServer(t, proConfig(t, f, cp.URL))
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	select {
	case <-f.status:
	case <-time.After(30 * time.Second):
		t.Fatal("no status report")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.set(func() {
		st := f.statuses[0]
		if f.logins != 1 || st.Health != "healthy" || st.URL != "https://ws.example.com" || st.ServerID != f.workspaceID || st.DatabaseType != "sqlite" {
			t.Errorf("logins %d, status %+v", f.logins, st)
		}
	})
}

// TestProWrongKey: a wrong enrollment key is reported as the control
// plane's refusal.
func TestProWrongKey(t *testing.T) {
	f, cp := newFakeCP(t)
	cfg := proConfig(t, f, cp.URL)
	cfg.Pro.ClientSecret = "wrong"
	srv, _, _ := testServer(t, cfg)
	_, err := srv.pro.tokenFor(context.Background(), false)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("want a refusal, got %v", err)
	}
}

// TestProTokenRenewal: the token is reused until 5 minutes before expiry,
// then renewed; a 401 forces a new login.
func TestProTokenRenewal(t *testing.T) {
	f, cp := newFakeCP(t)
	srv, _, _ := testServer(t, proConfig(t, f, cp.URL))
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	srv.pro.now = func() time.Time { return now }
	first := must[string](t)(srv.pro.tokenFor(ctx, false))
	now = now.Add(54 * time.Minute)
	if again := must[string](t)(srv.pro.tokenFor(ctx, false)); again != first {
		t.Fatalf("renewed too early")
	}
	now = now.Add(2 * time.Minute) // 4 minutes before expiry
	renewed := must[string](t)(srv.pro.tokenFor(ctx, false))
	if renewed == first {
		t.Fatalf("not renewed 4 minutes before expiry")
	}
	// The control plane forgets the token: the next call logs in again.
	f.set(func() { f.valid = map[string]bool{} })
	if err := srv.pro.reportStatus(ctx, srv.status()); err != nil {
		t.Fatalf("call after a 401: %v", err)
	}
	f.set(func() {
		if f.logins != 3 {
			t.Errorf("logins %d, want 3", f.logins)
		}
	})
}

// TestProLoginAndRBAC follows users through the zenml-external login and
// the control plane's permission checks, the owner rule, the cache and
// revocation.
func TestProLoginAndRBAC(t *testing.T) {
	f, cp := newFakeCP(t)
	cfg := proConfig(t, f, cp.URL)
	srv, hs, _ := testServer(t, cfg)
	ctx := context.Background()
	alice, bob := cpUser{ID: newID(), Email: "alice@example.com", Name: "Alice"}, cpUser{ID: newID(), Email: "bob@example.com", Name: "Bob"}
	f.set(func() {
		f.users["alice-cp-token"], f.users["bob-cp-token"] = alice, bob
		f.denied["mallory-cp-token"] = 403
	})
	project := must[client.Project](t)(srv.store.Project(ctx, "default", false))

	login := func(tok string) *client.Workspace {
		c := client.NewWorkspace(hs.URL, "", hs.Client())
		must[client.TokenResponse](t)(c.LoginExternal(ctx, tok))
		return c
	}
	t.Run("login", func(t *testing.T) {
		c := client.NewWorkspace(hs.URL, "", hs.Client())
		_, err := c.LoginExternal(ctx, "mallory-cp-token")
		wantStatus(t, err, http.StatusForbidden)
		_, err = c.LoginExternal(ctx, "unknown-token")
		wantStatus(t, err, http.StatusUnauthorized)
		_, err = c.LoginPassword(ctx, "admin", "admin-password")
		wantStatus(t, err, http.StatusUnauthorized)
		a := login("alice-cp-token")
		me := must[client.User](t)(a.CurrentUser(ctx))
		if me.Metadata.ExternalUserID == nil || *me.Metadata.ExternalUserID != alice.ID || me.Name != alice.Email {
			t.Fatalf("alice: %+v", me)
		}
		in := must[client.ServerInfo](t)(a.Info(ctx))
		if in.ProWorkspaceID != f.workspaceID || in.AuthScheme != "EXTERNAL" || in.ProOrganizationName != "org" {
			t.Fatalf("info: %+v", in)
		}
	})

	a, b := login("alice-cp-token"), login("bob-cp-token")
	pipelineRes := project.ID + ":pipeline"
	f.set(func() { f.grants[alice.ID+" create "+pipelineRes] = true })
	var pl client.Pipeline
	t.Run("create needs the control plane's grant", func(t *testing.T) {
		pl = must[client.Pipeline](t)(a.CreatePipeline(ctx, client.PipelineRequest{Name: "p", Project: "default"}))
		_, err := b.CreatePipeline(ctx, client.PipelineRequest{Name: "q", Project: "default"})
		wantStatus(t, err, http.StatusForbidden)
	})
	t.Run("the owner needs no grant", func(t *testing.T) {
		calls := f.checksNow()
		must[client.Pipeline](t)(a.GetPipeline(ctx, pl.ID, true))
		must[client.Pipeline](t)(a.UpdatePipeline(ctx, pl.ID, client.PipelineUpdate{Description: ptr("mine")}))
		if f.checksNow() != calls {
			t.Fatalf("the owner's access asked the control plane")
		}
	})
	res := project.ID + ":pipeline/" + pl.ID
	t.Run("others need a grant, and the answer is cached", func(t *testing.T) {
		_, err := b.GetPipeline(ctx, pl.ID, false)
		wantStatus(t, err, http.StatusForbidden)
		if got := must[client.Page[client.Pipeline]](t)(b.ListPipelines(ctx, nil)); got.Total != 0 {
			t.Fatalf("bob lists %d pipelines", got.Total)
		}
		f.set(func() { f.grants[bob.ID+" read "+res] = true })
		// Still denied: the refusal is cached for the TTL.
		_, err = b.GetPipeline(ctx, pl.ID, false)
		wantStatus(t, err, http.StatusForbidden)
		srv.advanceCache(cfg.RBACCacheTTL)
		must[client.Pipeline](t)(b.GetPipeline(ctx, pl.ID, false))
		if got := must[client.Page[client.Pipeline]](t)(b.ListPipelines(ctx, &client.ListOptions{Project: "default"})); got.Total != 1 {
			t.Fatalf("bob lists %d pipelines with the grant", got.Total)
		}
		calls := f.checksNow()
		for i := 0; i < 5; i++ {
			must[client.Pipeline](t)(b.GetPipeline(ctx, pl.ID, false))
		}
		if f.checksNow() != calls {
			t.Fatalf("cached decisions still called the control plane %d times", f.checksNow()-calls)
		}
	})
	t.Run("revocation holds within the cache lifetime", func(t *testing.T) {
		f.set(func() { delete(f.grants, bob.ID+" read "+res) })
		must[client.Pipeline](t)(b.GetPipeline(ctx, pl.ID, false)) // cached
		srv.advanceCache(cfg.RBACCacheTTL)
		_, err := b.GetPipeline(ctx, pl.ID, false)
		wantStatus(t, err, http.StatusForbidden)
	})
	t.Run("delete tells the control plane", func(t *testing.T) {
		must[any](t)(nil, a.DeletePipeline(ctx, pl.ID))
		f.set(func() {
			if len(f.deleted) != 1 || f.deleted[0] != res {
				t.Errorf("deleted %v, want %s", f.deleted, res)
			}
		})
	})
	t.Run("the control plane down is a 503", func(t *testing.T) {
		cp.Close()
		srv.advanceCache(cfg.RBACCacheTTL)
		_, err := b.ListPipelines(ctx, nil)
		wantStatus(t, err, http.StatusServiceUnavailable)
	})
}

func (f *fakeCP) checksNow() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checks
}

// advanceCache moves the RBAC cache's clock, so that entries expire without
// waiting.
func (s *Server) advanceCache(d time.Duration) {
	c := s.authz.(*proAuthorizer).cache
	c.mu.Lock()
	defer c.mu.Unlock()
	base := c.now
	c.now = func() time.Time { return base().Add(d + time.Nanosecond) }
}

// BenchmarkRBACCacheHit measures a decision served from the cache: it must
// stay well under 50µs (it is tens of nanoseconds).
func BenchmarkRBACCacheHit(b *testing.B) {
	a := newProAuthorizer(&proClient{}, time.Minute, nil)
	p := &principal{UserID: newID(), ExternalID: newID()}
	res := rbac.Resource{Project: newID(), Type: "pipeline_run", ID: newID()}
	a.cache.putCheck(checkKey{p.ExternalID, "read", res.String()}, true)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, err := a.allowed(ctx, p, "read", res); !ok || err != nil {
				b.Fatal("cache miss")
			}
		}
	})
}
