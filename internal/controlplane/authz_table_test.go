package controlplane_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// The callers every endpoint is tried with.
const (
	orgAdmin  = "org admin"
	editor    = "editor"
	viewer    = "viewer"
	outsider  = "member of another organization"
	noToken   = "no token"
	expired   = "expired token"
	wsToken   = "workspace client token"
	superuser = "control-plane admin"
)

var callers = []string{orgAdmin, editor, viewer, outsider, noToken, expired, wsToken, superuser}

// fixture is an organization A with one member per role, an organization B
// with the outsider, and an enrolled workspace of A.
type fixture struct {
	*env
	org     client.Organization
	ws      client.ControlPlaneWorkspace
	tokens  map[string]string
	userIDs map[string]string
	n       int
}

func newFixture(t *testing.T) *fixture {
	ctx := context.Background()
	f := &fixture{env: newEnv(t, sqldbtest.URL(t, "sqlite")), tokens: map[string]string{}, userIDs: map[string]string{}}
	var err error
	if f.org, err = f.admin.CreateOrganization(ctx, "org-a", ""); err != nil {
		t.Fatal(err)
	}
	for name, role := range map[string]string{orgAdmin: "Admin", editor: "Editor", viewer: "Viewer"} {
		c, u := f.user(fmt.Sprintf("u%d", len(f.tokens)))
		if _, err := f.admin.AddMember(ctx, f.org.ID, u.Username, role); err != nil {
			t.Fatal(err)
		}
		f.tokens[name], f.userIDs[name] = c.Token, u.ID
	}
	out, u := f.user("outsider")
	if _, err := out.CreateOrganization(ctx, "org-b", ""); err != nil {
		t.Fatal(err)
	}
	f.tokens[outsider], f.userIDs[outsider] = out.Token, u.ID
	f.tokens[superuser] = f.admin.Token
	if f.ws, err = f.admin.CreateWorkspace(ctx, f.org.ID, "ws-a", true); err != nil {
		t.Fatal(err)
	}
	tok, err := f.admin.LoginToken(ctx, url.Values{"grant_type": {"client_credentials"}, "client_id": {f.ws.ID}, "client_secret": {f.ws.EnrollmentKey}})
	if err != nil {
		t.Fatal(err)
	}
	f.tokens[wsToken] = tok.AccessToken
	// A token issued two hours ago has run out (tokens live an hour).
	now := f.clock.Load()
	f.clock.Store(now - int64(2*time.Hour))
	old := f.client("")
	if err := old.Login(ctx, "admin", adminPassword); err != nil {
		t.Fatal(err)
	}
	f.clock.Store(now)
	f.tokens[expired] = old.Token
	return f
}

func (f *fixture) name(prefix string) string {
	f.n++
	return fmt.Sprintf("%s-%d", prefix, f.n)
}

// Fresh objects, made by the control-plane admin, so that each caller acts on
// its own and one caller's success cannot change another's answer.
func (f *fixture) newUser() client.Account {
	u, err := f.admin.CreateUser(context.Background(), f.name("user"), "password-123", "")
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *fixture) newMember() client.Account {
	u := f.newUser()
	if _, err := f.admin.AddMember(context.Background(), f.org.ID, u.Username, "Viewer"); err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *fixture) newTeam() client.Team {
	t, err := f.admin.CreateTeam(context.Background(), f.org.ID, f.name("team"))
	if err != nil {
		f.t.Fatal(err)
	}
	return t
}

func (f *fixture) newRole() client.Role {
	r, err := f.admin.CreateRole(context.Background(), f.org.ID, f.name("role"), map[string][]string{"pipeline": {"read"}})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) newWorkspace() client.ControlPlaneWorkspace {
	w, err := f.admin.CreateWorkspace(context.Background(), f.org.ID, f.name("ws"), true)
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

func (f *fixture) newServiceAccount() client.Member {
	m, err := f.admin.CreateServiceAccount(context.Background(), f.org.ID, f.name("sa"), "Viewer")
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// expect builds the wanted statuses: the people of org A get their own, the
// rest their usual answer for a person-only endpoint.
func expect(admin, ed, view, out, super int) map[string]int {
	return map[string]int{orgAdmin: admin, editor: ed, viewer: view, outsider: out, superuser: super,
		noToken: 401, expired: 401, wsToken: 403}
}

func workspaceOnly() map[string]int {
	return map[string]int{orgAdmin: 403, editor: 403, viewer: 403, outsider: 403, superuser: 403, noToken: 401, expired: 401, wsToken: 200}
}

type call struct {
	name string
	want map[string]int
	// req returns the method, path and JSON body, preparing fresh objects.
	req func(f *fixture) (string, string, any)
}

func calls() []call {
	read := expect(200, 200, 200, 404, 200)
	manage := expect(200, 403, 403, 404, 200)
	anyone := expect(200, 200, 200, 200, 200)
	supers := expect(403, 403, 403, 403, 200)
	org := func(f *fixture) string { return "/api/v1/organizations/" + f.org.ID }
	return []call{
		{"GET current-user", anyone, func(f *fixture) (string, string, any) { return "GET", "/api/v1/current-user", nil }},
		{"GET organizations", anyone, func(f *fixture) (string, string, any) { return "GET", "/api/v1/organizations", nil }},
		{"POST organizations", anyone, func(f *fixture) (string, string, any) {
			return "POST", "/api/v1/organizations", map[string]string{"name": f.name("org")}
		}},
		{"GET organization", read, func(f *fixture) (string, string, any) { return "GET", org(f), nil }},
		{"PATCH organization", manage, func(f *fixture) (string, string, any) {
			return "PATCH", org(f), map[string]string{"description": "changed"}
		}},
		{"GET members", read, func(f *fixture) (string, string, any) { return "GET", org(f) + "/members", nil }},
		{"POST members", manage, func(f *fixture) (string, string, any) {
			return "POST", org(f) + "/members", map[string]string{"username": f.newUser().Username, "role": "Viewer"}
		}},
		{"PUT member role", manage, func(f *fixture) (string, string, any) {
			return "PUT", org(f) + "/members/" + f.newMember().ID + "/role", map[string]string{"role": "Editor"}
		}},
		{"DELETE member", manage, func(f *fixture) (string, string, any) {
			return "DELETE", org(f) + "/members/" + f.newMember().ID, nil
		}},
		{"GET invitations", read, func(f *fixture) (string, string, any) { return "GET", org(f) + "/invitations", nil }},
		{"POST invitations", manage, func(f *fixture) (string, string, any) {
			return "POST", org(f) + "/invitations", map[string]string{"email": "new@example.com", "role": "Viewer"}
		}},
		{"GET teams", read, func(f *fixture) (string, string, any) { return "GET", org(f) + "/teams", nil }},
		{"POST teams", manage, func(f *fixture) (string, string, any) {
			return "POST", org(f) + "/teams", map[string]string{"name": f.name("team")}
		}},
		{"GET team", read, func(f *fixture) (string, string, any) { return "GET", "/api/v1/teams/" + f.newTeam().ID, nil }},
		{"PATCH team", manage, func(f *fixture) (string, string, any) {
			return "PATCH", "/api/v1/teams/" + f.newTeam().ID, map[string]string{"description": "x"}
		}},
		{"DELETE team", manage, func(f *fixture) (string, string, any) { return "DELETE", "/api/v1/teams/" + f.newTeam().ID, nil }},
		{"POST team member", manage, func(f *fixture) (string, string, any) {
			return "POST", "/api/v1/teams/" + f.newTeam().ID + "/members", map[string]string{"user_id": f.newMember().ID}
		}},
		{"GET roles", read, func(f *fixture) (string, string, any) { return "GET", org(f) + "/roles", nil }},
		{"POST roles", manage, func(f *fixture) (string, string, any) {
			return "POST", org(f) + "/roles", map[string]any{"name": f.name("role"), "permissions": map[string][]string{"pipeline": {"read"}}}
		}},
		{"GET role", read, func(f *fixture) (string, string, any) { return "GET", "/api/v1/roles/" + f.newRole().ID, nil }},
		{"PATCH role", manage, func(f *fixture) (string, string, any) {
			return "PATCH", "/api/v1/roles/" + f.newRole().ID, map[string]string{"description": "x"}
		}},
		{"DELETE role", manage, func(f *fixture) (string, string, any) { return "DELETE", "/api/v1/roles/" + f.newRole().ID, nil }},
		{"GET role assignments", read, func(f *fixture) (string, string, any) { return "GET", org(f) + "/role_assignments", nil }},
		{"POST role assignment", manage, func(f *fixture) (string, string, any) {
			return "POST", org(f) + "/role_assignments", map[string]string{"role": "Editor", "user_id": f.newMember().ID, "scope": "workspace", "workspace_id": f.ws.ID}
		}},
		{"GET service accounts", read, func(f *fixture) (string, string, any) { return "GET", org(f) + "/service_accounts", nil }},
		{"POST service accounts", manage, func(f *fixture) (string, string, any) {
			return "POST", org(f) + "/service_accounts", map[string]string{"name": f.name("sa"), "role": "Viewer"}
		}},
		{"DELETE service account", manage, func(f *fixture) (string, string, any) {
			return "DELETE", "/api/v1/service_accounts/" + f.newServiceAccount().User.ID, nil
		}},
		{"POST API key", manage, func(f *fixture) (string, string, any) {
			return "POST", "/api/v1/service_accounts/" + f.newServiceAccount().User.ID + "/api_keys", map[string]string{"name": "k"}
		}},
		{"GET API keys", read, func(f *fixture) (string, string, any) {
			return "GET", "/api/v1/service_accounts/" + f.newServiceAccount().User.ID + "/api_keys", nil
		}},
		{"GET workspaces of org", read, func(f *fixture) (string, string, any) {
			return "GET", "/api/v1/workspaces?organization_id=" + f.org.ID, nil
		}},
		{"GET workspaces", anyone, func(f *fixture) (string, string, any) { return "GET", "/api/v1/workspaces", nil }},
		{"POST workspaces enroll", manage, func(f *fixture) (string, string, any) {
			return "POST", "/api/v1/workspaces?enroll=True", map[string]string{"name": f.name("ws"), "organization_id": f.org.ID}
		}},
		{"GET workspace", read, func(f *fixture) (string, string, any) { return "GET", "/api/v1/workspaces/" + f.ws.ID, nil }},
		{"PATCH workspace", manage, func(f *fixture) (string, string, any) {
			return "PATCH", "/api/v1/workspaces/" + f.ws.ID, map[string]string{"description": "x"}
		}},
		{"DELETE workspace", manage, func(f *fixture) (string, string, any) {
			return "DELETE", "/api/v1/workspaces/" + f.newWorkspace().ID, nil
		}},
		{"POST rotate enrollment key", manage, func(f *fixture) (string, string, any) {
			return "POST", "/api/v1/workspaces/" + f.newWorkspace().ID + "/enrollment_key", nil
		}},
		{"GET authorize_server", expect(200, 200, 200, 403, 200), func(f *fixture) (string, string, any) {
			return "GET", "/api/v1/users/authorize_server?server_id=" + f.ws.ID, nil
		}},
		{"GET users", supers, func(f *fixture) (string, string, any) { return "GET", "/api/v1/users", nil }},
		{"POST users", supers, func(f *fixture) (string, string, any) {
			return "POST", "/api/v1/users", map[string]string{"username": f.name("user"), "password": "password-123"}
		}},
		{"PATCH user deactivate", expect(404, 404, 404, 404, 200), func(f *fixture) (string, string, any) {
			return "PATCH", "/api/v1/users/" + f.newUser().ID, map[string]bool{"active": false}
		}},
		{"PATCH workspace_status", workspaceOnly(), func(f *fixture) (string, string, any) {
			return "PATCH", "/api/v1/workspace_status", map[string]string{"version": "0.1.0", "health": "healthy"}
		}},
		{"POST rbac check_permissions", workspaceOnly(), func(f *fixture) (string, string, any) {
			return "POST", "/api/v1/rbac/check_permissions?action=read&user_id=" + f.userIDs[viewer], []string{"pipeline_run"}
		}},
		{"GET rbac allowed_resource_ids", workspaceOnly(), func(f *fixture) (string, string, any) {
			return "GET", "/api/v1/rbac/allowed_resource_ids?action=read&resource=pipeline_run&user_id=" + f.userIDs[viewer], nil
		}},
		{"POST rbac resource_members", workspaceOnly(), func(f *fixture) (string, string, any) {
			return "POST", "/api/v1/rbac/resource_members", map[string]any{"user_id": f.userIDs[viewer], "sharing_user_id": f.userIDs[orgAdmin],
				"resource": "secret/s1", "actions": []string{"read"}}
		}},
		{"DELETE rbac resources", workspaceOnly(), func(f *fixture) (string, string, any) {
			return "DELETE", "/api/v1/rbac/resources?resources=secret/s1", nil
		}},
		{"DELETE organization", expect(200, 403, 403, 404, 200), func(f *fixture) (string, string, any) {
			// A fresh, empty organization in which the callers hold A's roles.
			o, err := f.admin.CreateOrganization(context.Background(), f.name("org"), "")
			if err != nil {
				f.t.Fatal(err)
			}
			for caller, role := range map[string]string{orgAdmin: "Admin", editor: "Editor", viewer: "Viewer"} {
				u, err := f.admin.CurrentUserOf(context.Background(), f.tokens[caller])
				if err != nil {
					f.t.Fatal(err)
				}
				if _, err := f.admin.AddMember(context.Background(), o.ID, u.Username, role); err != nil {
					f.t.Fatal(err)
				}
			}
			return "DELETE", "/api/v1/organizations/" + o.ID, nil
		}},
	}
}

// TestEndpointsByCaller tries every endpoint with every kind of caller and
// checks the status, and the error shape of every refusal.
func TestEndpointsByCaller(t *testing.T) {
	f := newFixture(t)
	for _, c := range calls() {
		for _, caller := range callers {
			want, ok := c.want[caller]
			if !ok {
				t.Fatalf("%s: no expectation for %s", c.name, caller)
			}
			method, path, body := c.req(f)
			status, resp := f.doJSON(method, path, f.tokens[caller], body)
			if status != want {
				t.Errorf("%s as %s: status %d, want %d (%s)", c.name, caller, status, want, resp)
				continue
			}
			if status >= 400 {
				checkErrorShape(t, status, resp)
			} else if !json.Valid(resp) {
				t.Errorf("%s as %s: answer is not JSON: %q", c.name, caller, resp)
			}
		}
	}
}
