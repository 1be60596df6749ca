package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/uptest"
)

// A service account of an organization (automation: CI, schedulers) works
// with a pro workspace as people do: its API key buys a control-plane token
// (client credentials), which the workspace takes through the
// zenml-external login; the workspace then asks the control plane what the
// account's role allows. A key deleted in the control plane buys nothing
// more.
func TestServiceAccountAtAProWorkspace(t *testing.T) {
	ctx := context.Background()
	cp := uptest.StartControlPlane(t)
	admin := cp.Admin(t)
	org, err := admin.CreateOrganization(ctx, "robots", "")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := admin.CreateWorkspace(ctx, org.ID, "ml", true)
	if err != nil {
		t.Fatal(err)
	}
	w := uptest.StartWorkspace(t, cp.URL, ws)
	uptest.WaitReported(t, admin, ws.ID)

	// login trades a service account's key for a workspace client.
	login := func(key client.ServiceAccountKey) (*client.Workspace, error) {
		id, secret, _ := strings.Cut(key.Key, ".")
		tok, err := client.NewControlPlane(cp.URL, "", nil).LoginToken(ctx, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
		if err != nil {
			return nil, err
		}
		wc := client.NewWorkspace(w.URL, "", nil)
		_, err = wc.LoginExternal(ctx, tok.AccessToken)
		return wc, err
	}
	account := func(name, role string) (string, client.ServiceAccountKey) {
		sa, err := admin.CreateServiceAccount(ctx, org.ID, name, role)
		if err != nil {
			t.Fatal(err)
		}
		key, err := admin.CreateAPIKey(ctx, sa.User.ID, "ci")
		if err != nil || key.Key == "" {
			t.Fatalf("key of %s: %+v %v", name, key, err)
		}
		return sa.User.ID, key
	}

	ciID, ciKey := account("ci-bot", "Editor")
	ci, err := login(ciKey)
	if err != nil {
		t.Fatalf("the editor account's login at the workspace: %v", err)
	}
	me, err := ci.CurrentUser(ctx)
	if err != nil || me.Name != "ci-bot" || !me.Body.IsServiceAccount {
		t.Fatalf("current user %+v %v", me, err)
	}
	if _, err := ci.CreateProject(ctx, client.ProjectRequest{Name: "nightly"}); err != nil {
		t.Fatalf("an editor account creates a project: %v", err)
	}

	_, viewKey := account("dashboards", "Viewer")
	watcher, err := login(viewKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watcher.GetProject(ctx, "nightly"); err != nil {
		t.Fatalf("a viewer account reads: %v", err)
	}
	if _, err := watcher.CreateProject(ctx, client.ProjectRequest{Name: "mine"}); client.StatusOf(err) != http.StatusForbidden {
		t.Fatalf("a viewer account created a project: %v", err)
	}

	// A deleted key buys no new control-plane token, so no new session.
	if err := admin.Do(ctx, "DELETE", "/api/v1/service_accounts/"+ciID+"/api_keys/"+ciKey.ID, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := login(ciKey); client.StatusOf(err) != http.StatusUnauthorized {
		t.Fatalf("a deleted key still logs in: %v", err)
	}
}
