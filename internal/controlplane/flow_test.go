package controlplane_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

func TestLoginGrants(t *testing.T) {
	e := newEnv(t, sqldbtest.URL(t, "sqlite"))
	ctx := context.Background()

	status, body := e.login(url.Values{"grant_type": {""}, "username": {"admin"}, "password": {adminPassword}, "client_id": {""}, "client_secret": {""}, "device_code": {""}, "audience": {""}})
	var tok client.Token
	if status != 200 || json.Unmarshal(body, &tok) != nil || tok.TokenType != "bearer" || tok.ExpiresIn <= 0 || tok.AccessToken == "" {
		t.Fatalf("password login: %d %s", status, body)
	}

	// Refresh tokens work once.
	status, body = e.login(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if status != 200 {
		t.Fatalf("refresh: %d %s", status, body)
	}
	if status, _ = e.login(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); status != 401 {
		t.Fatalf("second use of a refresh token: %d", status)
	}
	// A refresh token is no access token.
	if status, _ = e.doJSON("GET", "/api/v1/current-user", tok.RefreshToken, nil); status != 401 {
		t.Fatalf("refresh token as bearer: %d", status)
	}

	// Logout revokes the token.
	if status, _ = e.doJSON("POST", "/api/v1/auth/logout", tok.AccessToken, nil); status != 200 {
		t.Fatalf("logout: %d", status)
	}
	if status, _ = e.doJSON("GET", "/api/v1/current-user", tok.AccessToken, nil); status != 401 {
		t.Fatalf("token after logout: %d", status)
	}

	// Service accounts log in with API keys, not passwords.
	org, _ := e.admin.CreateOrganization(ctx, "acme", "")
	sa, err := e.admin.CreateServiceAccount(ctx, org.ID, "ci-bot", "Editor")
	if err != nil {
		t.Fatal(err)
	}
	key, err := e.admin.CreateAPIKey(ctx, sa.User.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	id, secret, _ := strings.Cut(key.Key, ".")
	if status, body = e.login(url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}); status != 200 {
		t.Fatalf("API key login: %d %s", status, body)
	}
	if status, _ = e.login(url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret + "x"}}); status != 401 {
		t.Fatalf("wrong API key: %d", status)
	}

	// Unknown grants and missing fields are 4xx in the error shape.
	for _, form := range []url.Values{
		{"grant_type": {"device_code"}},
		{"username": {"admin"}},
		{"grant_type": {"client_credentials"}, "client_id": {"x"}},
		{"username": {"a", "b"}, "password": {"p"}},
	} {
		status, body := e.login(form)
		if status < 400 || status >= 500 {
			t.Errorf("login %v: %d", form, status)
		}
		checkErrorShape(t, status, body)
	}
	status, body = e.do("POST", "/api/v1/auth/login", "", "application/json", []byte(`{"username":"admin"}`))
	if status != http.StatusUnsupportedMediaType {
		t.Fatalf("JSON login: %d", status)
	}
	checkErrorShape(t, status, body)
}

func TestLoginLockout(t *testing.T) {
	e := newEnv(t, sqldbtest.URL(t, "sqlite"))
	e.user("mallory-target")
	wrong := url.Values{"username": {"mallory-target"}, "password": {"nope-nope"}}
	var last int
	for i := 0; i < 10; i++ {
		last, _ = e.login(wrong)
		if last != 401 {
			t.Fatalf("failure %d: %d", i, last)
		}
	}
	// Locked now, even with the right password.
	status, body := e.login(url.Values{"username": {"mallory-target"}, "password": {"mallory-target-password"}})
	if status != http.StatusTooManyRequests {
		t.Fatalf("after 10 failures: %d %s", status, body)
	}
	// Others are not affected.
	if status, _ := e.login(url.Values{"username": {"admin"}, "password": {adminPassword}}); status != 200 {
		t.Fatalf("admin locked out too: %d", status)
	}
}

func TestInfo(t *testing.T) {
	e := newEnv(t, sqldbtest.URL(t, "sqlite"))
	status, body := e.doJSON("GET", "/api/v1/info", "", nil)
	var info map[string]string
	if status != 200 || json.Unmarshal(body, &info) != nil || info["version"] == "" || info["name"] != "enclave-controlplane" {
		t.Fatalf("info: %d %s", status, body)
	}
}

func TestDeactivatedUser(t *testing.T) {
	e := newEnv(t, sqldbtest.URL(t, "sqlite"))
	c, u := e.user("leaver")
	if _, err := e.admin.SetUserActive(context.Background(), u.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CurrentUser(context.Background()); client.StatusOf(err) != 401 {
		t.Fatalf("deactivated user's token: %v", err)
	}
	if status, _ := e.login(url.Values{"username": {"leaver"}, "password": {"leaver-password"}}); status != 401 {
		t.Fatalf("deactivated user's login: %d", status)
	}
}

// TestTenantIsolation checks that nothing of organization A is visible or
// changeable from organization B, whatever the endpoint.
func TestTenantIsolation(t *testing.T) {
	each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		ctx := context.Background()
		a, _ := e.user("alice")
		b, _ := e.user("bob")
		orgA, err := a.CreateOrganization(ctx, "org-a", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.CreateOrganization(ctx, "org-b", ""); err != nil {
			t.Fatal(err)
		}
		wsA, err := a.CreateWorkspace(ctx, orgA.ID, "ws-a", true)
		if err != nil {
			t.Fatal(err)
		}
		team, _ := a.CreateTeam(ctx, orgA.ID, "team-a")
		orgs, _ := b.ListOrganizations(ctx)
		if len(orgs) != 1 || orgs[0].Name != "org-b" {
			t.Fatalf("bob lists %+v", orgs)
		}
		ws, _ := b.ListWorkspaces(ctx, "", "")
		if len(ws) != 0 {
			t.Fatalf("bob lists workspaces %+v", ws)
		}
		if _, err := b.ListWorkspaces(ctx, orgA.ID, ""); client.StatusOf(err) != 404 {
			t.Fatalf("bob lists A's workspaces: %v", err)
		}
		if err := b.DeleteWorkspace(ctx, wsA.ID); client.StatusOf(err) != 404 {
			t.Fatalf("bob deletes A's workspace: %v", err)
		}
		if _, err := b.CreateWorkspace(ctx, orgA.ID, "intruder", true); client.StatusOf(err) != 404 {
			t.Fatalf("bob creates in A: %v", err)
		}
		if _, err := b.AddTeamMember(ctx, team.ID, "00000000-0000-0000-0000-000000000000"); client.StatusOf(err) != 404 {
			t.Fatalf("bob edits A's team: %v", err)
		}
		if _, err := b.AddMember(ctx, orgA.ID, "bob", "Admin"); client.StatusOf(err) != 404 {
			t.Fatalf("bob joins A: %v", err)
		}
		if _, err := b.AuthorizeServer(ctx, wsA.ID); client.StatusOf(err) != 403 {
			t.Fatalf("bob authorized on A's workspace: %v", err)
		}
		// A still has all it had.
		got, err := a.GetWorkspace(ctx, wsA.ID)
		if err != nil || got.Name != "ws-a" {
			t.Fatalf("A's workspace after bob: %+v %v", got, err)
		}
	})
}

// TestRBACDecisions follows a member's rights as the workspace sees them
// through check_permissions and allowed_resource_ids.
func TestRBACDecisions(t *testing.T) {
	e := newEnv(t, sqldbtest.URL(t, "sqlite"))
	ctx := context.Background()
	org, _ := e.admin.CreateOrganization(ctx, "acme", "")
	ws, _ := e.admin.CreateWorkspace(ctx, org.ID, "ws", true)
	_, viewer := e.user("vera")
	_, dev := e.user("dev")
	e.admin.AddMember(ctx, org.ID, "vera", "Viewer")
	e.admin.AddMember(ctx, org.ID, "dev", "Viewer")
	tok, err := e.admin.LoginToken(ctx, url.Values{"grant_type": {"client_credentials"}, "client_id": {ws.ID}, "client_secret": {ws.EnrollmentKey}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(userID, action string, resources ...string) map[string]bool {
		t.Helper()
		status, body := e.doJSON("POST", "/api/v1/rbac/check_permissions?user_id="+userID+"&action="+action, tok.AccessToken, resources)
		if status != 200 {
			t.Fatalf("check_permissions: %d %s", status, body)
		}
		var out map[string]bool
		json.Unmarshal(body, &out)
		return out
	}
	if got := check(viewer.ID, "read", "pipeline_run/r1", "p1:secret"); !got["pipeline_run/r1"] || !got["p1:secret"] {
		t.Fatalf("viewer read = %v", got)
	}
	if got := check(viewer.ID, "create", "pipeline_run"); got["pipeline_run"] {
		t.Fatal("viewer may create runs")
	}
	if got := check(dev.ID, "create", "p1:pipeline_run"); got["p1:pipeline_run"] {
		t.Fatal("a viewer may create in a project")
	}
	if got := check("00000000-0000-0000-0000-000000000000", "read", "pipeline_run"); got["pipeline_run"] {
		t.Fatal("an unknown user may read")
	}
	// A project-scoped Editor role: create in that project only.
	if _, err := e.admin.Assign(ctx, org.ID, client.AssignmentRequest{Role: "Editor", UserID: dev.ID, Scope: "project", WorkspaceID: ws.ID, ProjectID: "p1"}); err != nil {
		t.Fatal(err)
	}
	got := check(dev.ID, "create", "p1:pipeline_run", "p2:pipeline_run", "pipeline_run")
	if !got["p1:pipeline_run"] || got["p2:pipeline_run"] || got["pipeline_run"] {
		t.Fatalf("project editor create = %v", got)
	}
	status, body := e.doJSON("GET", "/api/v1/rbac/allowed_resource_ids?user_id="+dev.ID+"&resource=secret&action=update", tok.AccessToken, nil)
	var ids struct {
		FullAccess bool     `json:"full_access"`
		IDs        []string `json:"ids"`
	}
	if json.Unmarshal(body, &ids); status != 200 || ids.FullAccess || len(ids.IDs) != 0 {
		t.Fatalf("allowed ids before sharing: %d %s", status, body)
	}
	// An admin shares one secret with dev.
	admins, _ := e.admin.CurrentUser(ctx)
	status, body = e.doJSON("POST", "/api/v1/rbac/resource_members", tok.AccessToken, map[string]any{
		"user_id": dev.ID, "sharing_user_id": admins.ID, "resource": "secret/s-9", "actions": []string{"update"}})
	if status != 200 {
		t.Fatalf("share: %d %s", status, body)
	}
	_, body = e.doJSON("GET", "/api/v1/rbac/allowed_resource_ids?user_id="+dev.ID+"&resource=secret&action=update", tok.AccessToken, nil)
	json.Unmarshal(body, &ids)
	if ids.FullAccess || len(ids.IDs) != 1 || ids.IDs[0] != "s-9" {
		t.Fatalf("allowed ids after sharing: %s", body)
	}
	// A viewer cannot share what it only reads.
	status, _ = e.doJSON("POST", "/api/v1/rbac/resource_members", tok.AccessToken, map[string]any{
		"user_id": dev.ID, "sharing_user_id": viewer.ID, "resource": "secret/s-10", "actions": []string{"read"}})
	if status != 403 {
		t.Fatalf("viewer shares: %d", status)
	}
	// Deleting the resource forgets its shares.
	e.doJSON("DELETE", "/api/v1/rbac/resources?resources=secret/s-9", tok.AccessToken, nil)
	_, body = e.doJSON("GET", "/api/v1/rbac/allowed_resource_ids?user_id="+dev.ID+"&resource=secret&action=update", tok.AccessToken, nil)
	json.Unmarshal(body, &ids)
	if len(ids.IDs) != 0 {
		t.Fatalf("shares after delete: %s", body)
	}
	// Removing the member ends every right at once on the control plane.
	if err := e.admin.RemoveMember(ctx, org.ID, viewer.ID); err != nil {
		t.Fatal(err)
	}
	if got := check(viewer.ID, "read", "pipeline_run"); got["pipeline_run"] {
		t.Fatal("a removed member may still read")
	}
}

// TestBadInputWritesNothing sends malformed and invalid bodies and checks the
// answer and that nothing was created.
func TestBadInputWritesNothing(t *testing.T) {
	e := newEnv(t, sqldbtest.URL(t, "sqlite"))
	ctx := context.Background()
	org, _ := e.admin.CreateOrganization(ctx, "acme", "")
	tok := e.admin.Token
	long := strings.Repeat("x", 300)
	cases := []struct {
		name, method, path, ct, body string
		want                         int
	}{
		{"malformed JSON", "POST", "/api/v1/organizations", "application/json", `{"name": `, 422},
		{"unknown field", "POST", "/api/v1/organizations", "application/json", `{"name": "x", "owner": "me"}`, 422},
		{"wrong type", "POST", "/api/v1/organizations", "application/json", `{"name": 5}`, 422},
		{"empty name", "POST", "/api/v1/organizations", "application/json", `{"name": ""}`, 422},
		{"over-long name", "POST", "/api/v1/organizations", "application/json", `{"name": "` + long + `"}`, 422},
		{"control characters", "POST", "/api/v1/organizations", "application/json", `{"name": "a\u0000b"}`, 422},
		{"two values", "POST", "/api/v1/organizations", "application/json", `{"name": "a"}{"name": "b"}`, 422},
		{"wrong content type", "POST", "/api/v1/organizations", "text/plain", `{"name": "a"}`, 415},
		{"no content type", "POST", "/api/v1/organizations", "", `{"name": "a"}`, 415},
		{"huge body", "POST", "/api/v1/organizations", "application/json", `{"name": "` + strings.Repeat("a", 2<<20) + `"}`, 413},
		{"workspace name upper case", "POST", "/api/v1/workspaces?enroll=True", "application/json", `{"name": "Bad", "organization_id": "` + org.ID + `"}`, 422},
		{"workspace name underscore", "POST", "/api/v1/workspaces?enroll=True", "application/json", `{"name": "a_b", "organization_id": "` + org.ID + `"}`, 422},
		{"workspace name hyphen end", "POST", "/api/v1/workspaces", "application/json", `{"name": "ab-", "organization_id": "` + org.ID + `"}`, 422},
		{"workspace bad org id", "POST", "/api/v1/workspaces", "application/json", `{"name": "ok", "organization_id": "'; DROP TABLE x"}`, 422},
		{"enroll not a bool", "POST", "/api/v1/workspaces?enroll=maybe", "application/json", `{"name": "ok", "organization_id": "` + org.ID + `"}`, 422},
		{"unknown query", "GET", "/api/v1/workspaces?organisation_id=" + org.ID, "", ``, 422},
		{"bad path id", "GET", "/api/v1/organizations/not-a-uuid", "", ``, 422},
		{"role not known", "POST", "/api/v1/organizations/" + org.ID + "/members", "application/json", `{"username": "admin", "role": "Owner"}`, 422},
		{"custom role bad action", "POST", "/api/v1/organizations/" + org.ID + "/roles", "application/json", `{"name": "r", "permissions": {"pipeline": ["fly"]}}`, 422},
		{"unknown route", "GET", "/api/v1/nothing", "", ``, 404},
	}
	for _, c := range cases {
		status, body := e.do(c.method, c.path, tok, c.ct, []byte(c.body))
		if status != c.want {
			t.Errorf("%s: status %d, want %d (%s)", c.name, status, c.want, body)
			continue
		}
		checkErrorShape(t, status, body)
	}
	orgs, _ := e.admin.ListOrganizations(ctx)
	ws, _ := e.admin.ListWorkspaces(ctx, "", "")
	roles := 0
	status, body := e.doJSON("GET", "/api/v1/organizations/"+org.ID+"/roles", tok, nil)
	var rs []client.Role
	json.Unmarshal(body, &rs)
	for _, r := range rs {
		if !r.Builtin {
			roles++
		}
	}
	if len(orgs) != 1 || len(ws) != 0 || roles != 0 || status != 200 {
		t.Fatalf("bad input wrote something: orgs %d, workspaces %d, roles %d", len(orgs), len(ws), roles)
	}
}

func TestInvitationFlow(t *testing.T) {
	e := newEnv(t, sqldbtest.URL(t, "sqlite"))
	ctx := context.Background()
	org, _ := e.admin.CreateOrganization(ctx, "acme", "")
	inv, err := e.admin.Invite(ctx, org.ID, "new@example.com", "Editor")
	if err != nil || inv.Token == "" {
		t.Fatalf("invite: %+v %v", inv, err)
	}
	anon := e.client("")
	if _, err := anon.AcceptInvitation(ctx, inv.Token+"x", "newbie", "password-123"); client.StatusOf(err) != 401 {
		t.Fatalf("tampered token: %v", err)
	}
	u, err := anon.AcceptInvitation(ctx, inv.Token, "newbie", "password-123")
	if err != nil || u.Email != "new@example.com" {
		t.Fatalf("accept: %+v %v", u, err)
	}
	if _, err := anon.AcceptInvitation(ctx, inv.Token, "second", "password-123"); client.StatusOf(err) != 409 {
		t.Fatalf("second accept: %v", err)
	}
	ms, _ := e.admin.ListMembers(ctx, org.ID)
	found := false
	for _, m := range ms {
		if m.User.Username == "newbie" && len(m.Roles) == 1 && m.Roles[0] == "Editor" {
			found = true
		}
	}
	if !found {
		t.Fatalf("members after accept: %+v", ms)
	}
}
