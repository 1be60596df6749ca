package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/internal/uptest"
)

// TestInvitationLink follows an invitation from the admin's page to the
// invitee's first login.
func TestInvitationLink(t *testing.T) {
	e := newEnv(t)
	admin := e.browser(t)
	admin.login("admin", uptest.AdminPassword)
	status, body := admin.post("/orgs/"+e.org.ID+"/invitations", url.Values{"email": {"new@example.com"}, "role": {"Editor"}})
	wantPage(t, status, body, http.StatusOK, "Invitation link")
	m := regexp.MustCompile(`value="(http://[^"]+/invite\?token=([^"]+))"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no invitation link on the page:\n%s", body)
	}
	token, _ := url.QueryUnescape(strings.ReplaceAll(m[2], "&#43;", "+"))

	guest := e.browser(t)
	status, body = guest.get("/invite?token=" + url.QueryEscape(token))
	wantPage(t, status, body, http.StatusOK, "Join Enclave", token)
	status, body = guest.post("/invite", url.Values{"token": {token}, "username": {"newbie"}, "password": {"password-1"}, "password2": {"password-2"}})
	wantPage(t, status, body, http.StatusUnprocessableEntity, "The two passwords differ.")
	status, body = guest.post("/invite", url.Values{"token": {token + "x"}, "username": {"newbie"}, "password": {"password-1"}, "password2": {"password-1"}})
	wantPage(t, status, body, http.StatusUnauthorized, "not valid")
	status, body = guest.post("/invite", url.Values{"token": {token}, "username": {"newbie"}, "password": {"password-1"}, "password2": {"password-1"}})
	wantPage(t, status, body, http.StatusOK, "Your account is ready")
	guest.login("newbie", "password-1")
	ms, err := e.admin.ListMembers(context.Background(), e.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	joined := false
	for _, m := range ms {
		joined = joined || (m.User.Username == "newbie" && len(m.Roles) == 1 && m.Roles[0] == "Editor")
	}
	if !joined {
		t.Fatalf("members: %+v", ms)
	}
	// Used once.
	status, _ = guest.post("/invite", url.Values{"token": {token}, "username": {"second"}, "password": {"password-1"}, "password2": {"password-1"}})
	if status != http.StatusConflict {
		t.Fatalf("second use of the link: %d", status)
	}
}

// TestWorkspaceByName resolves the /workspaces/<name> address the seed's
// enrollment script prints.
func TestWorkspaceByName(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.login("admin", uptest.AdminPassword)
	status, body := b.get("/workspaces/research")
	wantPage(t, status, body, http.StatusOK, "research", e.ws.ID)
	status, _ = b.get("/workspaces/no-such-workspace")
	if status != http.StatusNotFound {
		t.Fatalf("unknown name: %d", status)
	}
}
