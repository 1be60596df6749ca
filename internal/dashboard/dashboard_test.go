package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/uptest"
)

func TestLoginAndLogout(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)

	status, body := b.get("/orgs")
	wantPage(t, status, body, http.StatusOK, "Log in to Enclave", `name="next" value="/orgs"`)

	status, body = b.post("/login", url.Values{"username": {"admin"}, "password": {"wrong"}})
	wantPage(t, status, body, http.StatusUnauthorized, "Wrong username or password.")

	b.login("admin", uptest.AdminPassword)
	status, body = b.get("/orgs")
	wantPage(t, status, body, http.StatusOK, "acme", "Create an organization")

	// The session cookie is the control plane's token: logging out revokes it.
	u, _ := url.Parse(b.base)
	var token string
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == "enclave_session" {
			token = c.Value
		}
	}
	if token == "" {
		t.Fatal("no session cookie after login")
	}
	status, body = b.post("/logout", url.Values{})
	wantPage(t, status, body, http.StatusOK, "Log in to Enclave")
	if _, err := e.admin.CurrentUserOf(context.Background(), token); client.StatusOf(err) != http.StatusUnauthorized {
		t.Fatalf("the logged-out token still works: %v", err)
	}
	status, body = b.get("/profile")
	wantPage(t, status, body, http.StatusOK, "Log in to Enclave")
}

func TestLoginRedirectStaysOnSite(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.get("/login")
	b.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req := url.Values{"username": {"admin"}, "password": {uptest.AdminPassword}, "next": {"//evil.example/x"}}
	status, _ := b.post("/login", req)
	if status != http.StatusSeeOther {
		t.Fatalf("status %d", status)
	}
	resp, err := b.hc.Get(b.base + "/login?next=https://evil.example/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Fatalf("a logged-in visitor is sent to %q", loc)
	}
}

func TestFormsRefuseCrossSitePosts(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.login("admin", uptest.AdminPassword)
	ctx := context.Background()

	cases := []struct {
		name   string
		origin string
		token  string
	}{
		{"no token", b.base, "-"},
		{"wrong token", b.base, strings.Repeat("x", 32)},
		{"other origin", "https://evil.example", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b.origin = c.origin
			defer func() { b.origin = b.base }()
			form := url.Values{"name": {"sneaky"}}
			if c.token != "" {
				form.Set("csrf_token", c.token)
			}
			status, body := b.post("/orgs", form)
			wantPage(t, status, body, http.StatusForbidden)
			orgs, err := e.admin.ListOrganizations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range orgs {
				if o.Name == "sneaky" {
					t.Fatal("a refused form still created the organization")
				}
			}
		})
	}
	// The same form with the page's token is accepted.
	status, body := b.post("/orgs", url.Values{"name": {"fine"}})
	wantPage(t, status, body, http.StatusOK, "Organization created.", "Members of fine")
}

func TestOrganizationPages(t *testing.T) {
	e := newEnv(t)
	e.user(t, "bob", "Editor")
	b := e.browser(t)
	b.login("admin", uptest.AdminPassword)
	org := "/orgs/" + e.org.ID

	status, body := b.post(org+"/teams", url.Values{"name": {"ml-platform"}})
	wantPage(t, status, body, http.StatusOK, "Team created.", "ml-platform")

	status, body = b.post(org+"/members", url.Values{"username": {"nobody"}, "role": {"Viewer"}})
	wantPage(t, status, body, http.StatusNotFound, "Members of acme")

	status, body = b.post(org+"/roles", url.Values{"name": {"run-reader"}, "permissions": {"pipeline_run: read\npipeline: read"}})
	wantPage(t, status, body, http.StatusOK, "Role created.", "pipeline_run: read")

	status, body = b.post(org+"/roles", url.Values{"name": {"broken"}, "permissions": {"no colon here"}})
	wantPage(t, status, body, http.StatusUnprocessableEntity, "write it as resource: action")

	// Editing the custom role replaces its permissions.
	m := regexp.MustCompile(`action="(/orgs/[^/]+/roles/[0-9a-f-]{36})"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no edit form for the custom role:\n%s", body)
	}
	status, body = b.post(m[1], url.Values{"permissions": {"pipeline_run: read, update"}})
	wantPage(t, status, body, http.StatusOK, "Role saved.", "pipeline_run: read, update")
	if strings.Contains(body, "<code>pipeline: read</code>") {
		t.Fatal("the edited role kept its old permissions")
	}
	status, body = b.post(m[1], url.Values{"permissions": {"pipeline_run: fly"}})
	if status < 400 {
		t.Fatalf("a role with an unknown action was saved: %d", status)
	}

	status, body = b.post(org+"/invitations", url.Values{"email": {"carol@example.com"}, "role": {"Viewer"}})
	wantPage(t, status, body, http.StatusOK, "Invitation link", "/invite?token=", "carol@example.com")

	status, body = b.post(org, url.Values{"name": {"acme-corp"}, "description": {"renamed"}})
	wantPage(t, status, body, http.StatusOK, "Organization updated.", `value="acme-corp"`)

	status, body = b.post(org+"/service-accounts", url.Values{"name": {"ci-bot"}, "role": {"Editor"}})
	wantPage(t, status, body, http.StatusOK, "Service account ci-bot", "No keys yet.")
	path := regexp.MustCompile(`action="(/orgs/[^"]+/keys)"`).FindStringSubmatch(body)
	if path == nil {
		t.Fatal("no key form on the service account page")
	}
	status, body = b.post(path[1], url.Values{"name": {"deploy"}})
	wantPage(t, status, body, http.StatusOK, "shown only once", "API key")

	for _, p := range []string{org + "/members", org + "/teams", org + "/roles", org + "/invitations", org + "/service-accounts", org, "/profile", "/users"} {
		status, body := b.get(p)
		wantPage(t, status, body, http.StatusOK, "Log out")
	}
}

func TestViewerSeesButCannotCreate(t *testing.T) {
	e := newEnv(t)
	e.user(t, "val", "Viewer")
	b := e.browser(t)
	b.login("val", "val-password")
	org := "/orgs/" + e.org.ID

	status, body := b.get(org + "/workspaces")
	wantPage(t, status, body, http.StatusOK, "research")
	for _, c := range []struct{ path, field string }{
		{org + "/workspaces", "name"},
		{org + "/teams", "name"},
		{org + "/members", "username"},
	} {
		status, body := b.post(c.path, url.Values{c.field: {"viewer-made"}})
		wantPage(t, status, body, http.StatusForbidden, "Your role does not allow this")
	}
	status, body = b.get("/users")
	wantPage(t, status, body, http.StatusForbidden, "Your role does not allow this")
	wss, err := e.admin.ListWorkspaces(context.Background(), e.org.ID, "")
	if err != nil || len(wss) != 1 {
		t.Fatalf("workspaces after the viewer's attempts: %v, %v", wss, err)
	}
}

func TestEnrollShowsTheKeyOnce(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.login("admin", uptest.AdminPassword)
	status, body := b.post("/orgs/"+e.org.ID+"/workspaces", url.Values{"name": {"vision"}})
	wantPage(t, status, body, http.StatusOK, "shown only once", "enrollmentKey: ", "apiURL: "+e.cp.URL+"/api/v1", "workspaceName: vision")
	key := regexp.MustCompile(`id="enroll-key" class="secret" readonly value="([^"]+)"`).FindStringSubmatch(body)
	if key == nil || len(key[1]) < 20 {
		t.Fatalf("no key on the page:\n%s", body)
	}
	wss, _ := e.admin.ListWorkspaces(context.Background(), e.org.ID, "vision")
	if len(wss) != 1 {
		t.Fatalf("workspace not created: %v", wss)
	}
	status, body = b.get("/workspaces/" + wss[0].ID)
	wantPage(t, status, body, http.StatusOK, "the server has not reported yet")
	if strings.Contains(body, key[1]) {
		t.Fatal("the enrollment key shows again")
	}
	status, body = b.get("/workspaces/" + wss[0].ID + "/runs")
	wantPage(t, status, body, http.StatusServiceUnavailable, "has not reported to the control plane yet")

	status, body = b.post("/workspaces/"+wss[0].ID+"/rotate", url.Values{})
	wantPage(t, status, body, http.StatusOK, "has a new enrollment key")
	if strings.Contains(body, key[1]) {
		t.Fatal("rotation showed the old key")
	}

	status, body = b.post("/workspaces/"+wss[0].ID+"/delete", url.Values{"confirm": {"wrong"}})
	wantPage(t, status, body, http.StatusUnprocessableEntity, "Type the workspace")
	status, body = b.post("/workspaces/"+wss[0].ID+"/delete", url.Values{"confirm": {"vision"}})
	wantPage(t, status, body, http.StatusOK, "Workspace deleted.")
	status, body = b.get("/workspaces/" + wss[0].ID)
	wantPage(t, status, body, http.StatusNotFound, "Not found")
}
