package dashboard

import "net/http"

// route is one page or form of the dashboard. Pages that are not public need
// a session; their POSTs are checked for origin and CSRF token first.
type route struct {
	pattern string
	public  bool
	h       func(w http.ResponseWriter, r *http.Request, s *session)
}

// routes is the dashboard's table of contents. The control plane keeps /api/
// and /health; everything else under / is the dashboard's.
func (u *UI) routes() []route {
	pub := func(p string, h func(http.ResponseWriter, *http.Request, *session)) route {
		return route{pattern: p, public: true, h: h}
	}
	in := func(p string, h func(http.ResponseWriter, *http.Request, *session)) route {
		return route{pattern: p, h: h}
	}
	return []route{
		pub("GET /static/", func(w http.ResponseWriter, r *http.Request, _ *session) { u.static.ServeHTTP(w, r) }),
		pub("GET /login", u.loginPage),
		pub("POST /login", u.loginPost),
		pub("GET /invite", u.invitePage),
		pub("POST /invite", u.invitePost),
		in("POST /logout", u.logoutPost),
		in("GET /{$}", u.home),
		in("GET /profile", u.profilePage),
		in("POST /profile/password", u.passwordPost),
		in("GET /users", u.usersPage),
		in("POST /users", u.usersPost),

		// Organizations and what they hold.
		in("GET /orgs", u.orgsPage),
		in("POST /orgs", u.orgsPost),
		in("GET /orgs/{org}", u.orgPage),
		in("POST /orgs/{org}", u.orgPost),
		in("GET /orgs/{org}/members", u.membersPage),
		in("POST /orgs/{org}/members", u.membersPost),
		in("POST /orgs/{org}/members/{user}/role", u.memberRolePost),
		in("POST /orgs/{org}/members/{user}/remove", u.memberRemovePost),
		in("GET /orgs/{org}/invitations", u.invitationsPage),
		in("POST /orgs/{org}/invitations", u.invitationsPost),
		in("POST /orgs/{org}/invitations/{inv}/delete", u.invitationDeletePost),
		in("GET /orgs/{org}/teams", u.teamsPage),
		in("POST /orgs/{org}/teams", u.teamsPost),
		in("GET /orgs/{org}/teams/{team}", u.teamPage),
		in("POST /orgs/{org}/teams/{team}/members", u.teamMemberPost),
		in("POST /orgs/{org}/teams/{team}/members/{user}/remove", u.teamMemberRemovePost),
		in("POST /orgs/{org}/teams/{team}/delete", u.teamDeletePost),
		in("GET /orgs/{org}/roles", u.rolesPage),
		in("POST /orgs/{org}/roles", u.rolesPost),
		in("POST /orgs/{org}/roles/{role}", u.rolePost),
		in("POST /orgs/{org}/roles/{role}/delete", u.roleDeletePost),
		in("POST /orgs/{org}/assignments", u.assignPost),
		in("POST /orgs/{org}/assignments/{a}/delete", u.unassignPost),
		in("GET /orgs/{org}/service-accounts", u.serviceAccountsPage),
		in("POST /orgs/{org}/service-accounts", u.serviceAccountsPost),
		in("GET /orgs/{org}/service-accounts/{sa}", u.serviceAccountPage),
		in("POST /orgs/{org}/service-accounts/{sa}/keys", u.apiKeyPost),
		in("POST /orgs/{org}/service-accounts/{sa}/keys/{key}/delete", u.apiKeyDeletePost),
		in("POST /orgs/{org}/service-accounts/{sa}/delete", u.serviceAccountDeletePost),

		// Workspaces and their enrollment.
		in("GET /orgs/{org}/workspaces", u.workspacesPage),
		in("POST /orgs/{org}/workspaces", u.workspacesPost),
		in("GET /workspaces/{ws}", u.workspacePage),
		in("POST /workspaces/{ws}/rotate", u.rotatePost),
		in("POST /workspaces/{ws}/delete", u.workspaceDeletePost),

		// Inside a workspace, through its own API.
		in("GET /workspaces/{ws}/pipelines", u.pipelinesPage),
		in("GET /workspaces/{ws}/runs", u.runsPage),
		in("GET /workspaces/{ws}/runs/{run}", u.runPage),
		in("POST /workspaces/{ws}/runs/{run}/stop", u.runStopPost),
		in("POST /workspaces/{ws}/runs/{run}/again", u.runAgainPost),
		in("GET /workspaces/{ws}/steps/{step}", u.stepPage),
		in("GET /workspaces/{ws}/artifacts", u.artifactsPage),
		in("GET /workspaces/{ws}/artifact-versions/{av}", u.artifactVersionPage),
		in("GET /workspaces/{ws}/models", u.modelsPage),
		in("GET /workspaces/{ws}/models/{model}", u.modelPage),
		in("GET /workspaces/{ws}/stacks", u.stacksPage),
		in("GET /workspaces/{ws}/components", u.componentsPage),
		in("GET /workspaces/{ws}/secrets", u.secretsPage),
		in("GET /workspaces/{ws}/secrets/{secret}", u.secretPage),
	}
}
