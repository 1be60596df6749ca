package workspace

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

func TestServerSettings(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv, hs, admin := testServer(t, testConfig(t, url))

		st := must[client.ServerSettings](t)(admin.Settings(ctx))
		b := st.Body
		if st.ID != srv.serverID || b.ServerID != srv.serverID || b.ServerName != "enclave" || !b.Active || b.EnableAnalytics ||
			b.DisplayAnnouncements == nil || *b.DisplayAnnouncements || b.LogoURL != nil {
			t.Fatalf("defaults: %+v", st)
		}
		// The login of the test client is the last activity.
		if since := time.Since(b.LastUserActivity.Time); since < 0 || since > time.Minute {
			t.Fatalf("last user activity %v", b.LastUserActivity)
		}

		name, logo, yes := "research", "https://assets.internal/logo.png", true
		st = must[client.ServerSettings](t)(admin.UpdateSettings(ctx, client.ServerSettingsUpdate{ServerName: &name, LogoURL: &logo, DisplayUpdates: &yes}))
		if st.Body.ServerName != name || st.Body.LogoURL == nil || *st.Body.LogoURL != logo || !*st.Body.DisplayUpdates || *st.Body.DisplayAnnouncements {
			t.Fatalf("after the update: %+v", st.Body)
		}
		if info := must[client.ServerInfo](t)(admin.Info(ctx)); info.Name != name {
			t.Fatalf("/info names the server %q", info.Name)
		}
		empty := ""
		st = must[client.ServerSettings](t)(admin.UpdateSettings(ctx, client.ServerSettingsUpdate{LogoURL: &empty}))
		if st.Body.LogoURL != nil || st.Body.ServerName != name {
			t.Fatalf("logo removed: %+v", st.Body)
		}

		// Bad input: a clear 4xx, and nothing changed.
		for _, bad := range []struct {
			body, want string
		}{
			{`{"server_name": "  "}`, "server_name"},
			{`{"logo_url": "ftp://x/logo.png"}`, "logo_url"},
			{`{"logo_url": "logo.png"}`, "logo_url"},
			{`{"enable_analytics": true}`, "no analytics"},
			{`{"server_name": "x", "logo_url": 3}`, "logo_url"},
			{`{"display_updates": "yes"}`, ""},
		} {
			code, out := raw(t, hs, admin.Token(), "PUT", "/api/v1/settings", "application/json", bad.body)
			if code != http.StatusUnprocessableEntity && code != http.StatusBadRequest || !strings.Contains(out, bad.want) || !strings.Contains(out, "detail") {
				t.Errorf("%s: %d %s", bad.body, code, out)
			}
		}
		if got := must[client.ServerSettings](t)(admin.Settings(ctx)); got.Body.ServerName != name || got.Body.LogoURL != nil || !*got.Body.DisplayUpdates {
			t.Fatalf("bad updates changed the settings: %+v", got.Body)
		}

		// Only administrators change them; everyone reads them.
		must[client.User](t)(admin.CreateUser(ctx, client.UserRequest{Name: "ann", Password: "ann-password-1"}))
		ann := client.NewWorkspace(hs.URL, "", hs.Client())
		must[client.TokenResponse](t)(ann.LoginPassword(ctx, "ann", "ann-password-1"))
		must[client.ServerSettings](t)(ann.Settings(ctx))
		_, err := ann.UpdateSettings(ctx, client.ServerSettingsUpdate{ServerName: &name})
		wantStatus(t, err, http.StatusForbidden)
	})
}

// TestDefaultsExistingAreNotInsertedAgain: a start of a server whose
// defaults exist tries no insert (each failed one would be an error line
// in the database's log on every start). On SQLite, triggers make any
// insert into flavors or projects fail.
func TestDefaultsExistingAreNotInsertedAgain(t *testing.T) {
	ctx := context.Background()
	srv, _, _ := testServer(t, testConfig(t, sqldbtest.URL(t, "sqlite")))
	for _, table := range []string{"flavors", "projects"} {
		if _, err := srv.store.db.Exec(ctx, "CREATE TRIGGER no_insert_"+table+" BEFORE INSERT ON "+table+" BEGIN SELECT RAISE(ABORT, 'no insert expected'); END"); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.store.EnsureDefaults(ctx, t.TempDir()); err != nil {
		t.Fatalf("EnsureDefaults on a store that has its defaults: %v", err)
	}
	// The triggers do fire: a missing default is still made, and fails here.
	if _, err := srv.store.db.Exec(ctx, "DELETE FROM flavors WHERE type = 'orchestrator' AND name = 'kubernetes'"); err != nil {
		t.Fatal(err)
	}
	if err := srv.store.EnsureDefaults(ctx, t.TempDir()); err == nil {
		t.Fatal("a missing built-in flavor was not created again")
	}
}
