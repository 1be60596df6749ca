package workspace

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

func TestStandaloneLogin(t *testing.T) {
	srv, hs, admin := testServer(t, testConfig(t, sqldbtest.URL(t, "sqlite")))
	ctx := context.Background()

	t.Run("no credentials", func(t *testing.T) {
		code, body := raw(t, hs, "", "GET", "/api/v1/runs", "", "")
		if code != http.StatusUnauthorized {
			t.Fatalf("status %d", code)
		}
		errorShape(t, body)
	})
	t.Run("forged token", func(t *testing.T) {
		code, body := raw(t, hs, admin.Token()+"x", "GET", "/api/v1/runs", "", "")
		if code != http.StatusUnauthorized {
			t.Fatalf("status %d", code)
		}
		errorShape(t, body)
	})
	t.Run("wrong password", func(t *testing.T) {
		c := client.NewWorkspace(hs.URL, "", hs.Client())
		_, err := c.LoginPassword(ctx, testAdmin, "not-the-password")
		wantStatus(t, err, http.StatusUnauthorized)
		_, err = c.LoginPassword(ctx, "nobody", "not-the-password")
		wantStatus(t, err, http.StatusUnauthorized)
	})
	t.Run("unknown grant", func(t *testing.T) {
		code, body := raw(t, hs, "", "POST", "/api/v1/login", "application/x-www-form-urlencoded", "grant_type=magic")
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("status %d", code)
		}
		errorShape(t, body)
	})
	t.Run("external grant needs pro mode", func(t *testing.T) {
		code, _ := raw(t, hs, "whatever", "POST", "/api/v1/login", "application/x-www-form-urlencoded", "grant_type=zenml-external")
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("status %d", code)
		}
	})
	t.Run("cookie", func(t *testing.T) {
		form := url.Values{"username": {testAdmin}, "password": {testPassword}}
		resp, err := hs.Client().PostForm(hs.URL+"/api/v1/login", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "zenml-server-"+srv.ServerID() {
				cookie = c
			}
		}
		if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure {
			t.Fatalf("cookie: %+v", cookie)
		}
		req, _ := http.NewRequest("GET", hs.URL+"/api/v1/current-user", nil)
		req.AddCookie(cookie)
		resp, err = hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("cookie session: %d", resp.StatusCode)
		}
	})
	t.Run("users and admin rights", func(t *testing.T) {
		must[client.User](t)(admin.CreateUser(ctx, client.UserRequest{Name: "bob", Password: "bob-password"}))
		bob := client.NewWorkspace(hs.URL, "", hs.Client())
		must[client.TokenResponse](t)(bob.LoginPassword(ctx, "bob", "bob-password"))
		me := must[client.User](t)(bob.CurrentUser(ctx))
		if me.Name != "bob" || me.Body.IsAdmin {
			t.Fatalf("bob: %+v", me)
		}
		_, err := bob.CreateUser(ctx, client.UserRequest{Name: "eve", Password: "eve-password"})
		wantStatus(t, err, http.StatusForbidden)
		_, err = bob.UpdateUser(ctx, me.ID, client.UserUpdate{IsAdmin: ptr(true)})
		wantStatus(t, err, http.StatusForbidden)
		_, err = bob.UpdateUser(ctx, me.ID, client.UserUpdate{Password: ptr("new-password"), OldPassword: ptr("wrong-password")})
		wantStatus(t, err, http.StatusForbidden)
		must[client.User](t)(bob.UpdateUser(ctx, me.ID, client.UserUpdate{Password: ptr("new-password"), OldPassword: ptr("bob-password")}))
		must[client.TokenResponse](t)(bob.LoginPassword(ctx, "bob", "new-password"))
		// A deactivated user's token stops working at once.
		must[client.User](t)(admin.UpdateUser(ctx, me.ID, client.UserUpdate{Active: ptr(false)}))
		_, err = bob.CurrentUser(ctx)
		wantStatus(t, err, http.StatusUnauthorized)
	})
	t.Run("service account and API key", func(t *testing.T) {
		sa := must[client.User](t)(admin.CreateServiceAccount(ctx, client.ServiceAccountRequest{Name: "runner", Description: "pipeline runner"}))
		key := must[client.APIKey](t)(admin.CreateAPIKey(ctx, sa.ID, client.APIKeyRequest{Name: "ci"}))
		if !strings.HasPrefix(key.Body.Key, "ZENKEY_") {
			t.Fatalf("key %q", key.Body.Key)
		}
		var hash string
		if err := srv.db.QueryRow(ctx, "SELECT key_hash FROM api_keys WHERE id = ?", key.ID).Scan(&hash); err != nil || strings.Contains(key.Body.Key, hash) || !strings.HasPrefix(hash, "$argon2id$") {
			t.Fatalf("stored key: %q %v", hash, err)
		}
		c := client.NewWorkspace(hs.URL, "", hs.Client())
		tr := must[client.TokenResponse](t)(c.LoginAPIKey(ctx, key.Body.Key))
		if tr.ExpiresIn != int64(apiKeyTTL.Seconds()) {
			t.Fatalf("expires_in %d", tr.ExpiresIn)
		}
		if me := must[client.User](t)(c.CurrentUser(ctx)); me.ID != sa.ID || !me.Body.IsServiceAccount {
			t.Fatalf("logged in as %+v", me)
		}
		// A service account cannot log in with a password.
		_, err := c.LoginPassword(ctx, "runner", "any-password")
		wantStatus(t, err, http.StatusUnauthorized)
		keys := must[client.Page[client.APIKey]](t)(admin.ListAPIKeys(ctx, sa.ID, nil))
		if keys.Total != 1 || keys.Items[0].Body.Key != "" || keys.Items[0].Body.LastLogin == nil {
			t.Fatalf("keys: %+v", keys.Items)
		}
		rotated := must[client.APIKey](t)(admin.RotateAPIKey(ctx, sa.ID, key.ID))
		_, err = c.LoginAPIKey(ctx, key.Body.Key)
		wantStatus(t, err, http.StatusUnauthorized)
		must[client.TokenResponse](t)(c.LoginAPIKey(ctx, rotated.Body.Key))
		_, err = c.LoginAPIKey(ctx, "ZENKEY_bm90LWpzb24=")
		wantStatus(t, err, http.StatusUnauthorized)
		must[any](t)(nil, admin.DeleteAPIKey(ctx, sa.ID, key.ID))
		_, err = c.LoginAPIKey(ctx, rotated.Body.Key)
		wantStatus(t, err, http.StatusUnauthorized)
	})
	t.Run("info needs no login", func(t *testing.T) {
		c := client.NewWorkspace(hs.URL, "", hs.Client())
		in := must[client.ServerInfo](t)(c.Info(ctx))
		if in.ID != srv.ServerID() || in.DatabaseType != "sqlite" || in.SecretsStoreType != "sql" || in.ProWorkspaceID != "" {
			t.Fatalf("info: %+v", in)
		}
		if err := c.Health(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestJWTKeyPersists shows that a generated session key survives a restart,
// so tokens stay valid.
func TestJWTKeyPersists(t *testing.T) {
	cfg := testConfig(t, sqldbtest.URL(t, "sqlite"))
	_, _, c := testServer(t, cfg)
	_, hs2, _ := testServer(t, cfg)
	c2 := client.NewWorkspace(hs2.URL, c.Token(), hs2.Client())
	if _, err := c2.CurrentUser(context.Background()); err != nil {
		t.Fatalf("token after restart: %v", err)
	}
}

// TestRandomAdminPassword: without a configured password the first admin's
// is written to a private file, and works.
func TestRandomAdminPassword(t *testing.T) {
	cfg := testConfig(t, sqldbtest.URL(t, "sqlite"))
	cfg.DefaultUserPassword = ""
	cfg.DefaultUserName = "root"
	srv, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	pw := readFile(t, cfg.DataDir+"/initial-admin-password")
	if _, err := srv.store.CheckPassword(context.Background(), "root", strings.TrimSpace(pw)); err != nil {
		t.Fatalf("the written password does not work: %v", err)
	}
}
