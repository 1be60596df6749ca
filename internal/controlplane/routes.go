package controlplane

import (
	"net/http"

	"github.com/enclave-mlops/enclave/internal/httpapi"
)

// routes is the control plane's API, in one table. Paths and answers follow
// the wire protocol that the original system's clients speak.
func (s *Server) routes(mux *http.ServeMux) {
	h := httpapi.Handle

	mux.HandleFunc("GET /health", httpapi.Health)
	mux.HandleFunc("HEAD /health", httpapi.Health)
	mux.Handle("GET /.well-known/jwks.json", h(s.jwksHandler))
	mux.Handle("GET /api/v1/auth/jwks", h(s.jwksHandler))
	mux.Handle("GET /api/v1/info", h(s.info))

	// Logging in and out.
	mux.Handle("POST /api/v1/auth/login", h(s.login))
	mux.Handle("POST /api/v1/auth/logout", requirePerson(s.logout))
	mux.Handle("GET /api/v1/current-user", requirePerson(s.currentUser))
	mux.Handle("PUT /api/v1/current-user/password", requirePerson(s.changePassword))
	mux.Handle("POST /api/v1/invitations/accept", h(s.acceptInvitation))

	// Users (control-plane administrators).
	mux.Handle("GET /api/v1/users", requirePerson(s.listUsers))
	mux.Handle("POST /api/v1/users", requirePerson(s.createUser))
	mux.Handle("GET /api/v1/users/authorize_server", requirePerson(s.authorizeServer))
	mux.Handle("GET /api/v1/users/{user}", requirePerson(s.getUser))
	mux.Handle("PATCH /api/v1/users/{user}", requirePerson(s.updateUser))

	// Organizations and what they hold.
	mux.Handle("GET /api/v1/organizations", requirePerson(s.listOrganizations))
	mux.Handle("POST /api/v1/organizations", requirePerson(s.createOrganization))
	mux.Handle("GET /api/v1/organizations/{org}", requirePerson(s.getOrganization))
	mux.Handle("PATCH /api/v1/organizations/{org}", requirePerson(s.updateOrganization))
	mux.Handle("DELETE /api/v1/organizations/{org}", requirePerson(s.deleteOrganization))
	mux.Handle("GET /api/v1/organizations/{org}/members", requirePerson(s.listMembers))
	mux.Handle("POST /api/v1/organizations/{org}/members", requirePerson(s.addMember))
	mux.Handle("PUT /api/v1/organizations/{org}/members/{user}/role", requirePerson(s.setMemberRole))
	mux.Handle("DELETE /api/v1/organizations/{org}/members/{user}", requirePerson(s.removeMember))
	mux.Handle("GET /api/v1/organizations/{org}/invitations", requirePerson(s.listInvitations))
	mux.Handle("POST /api/v1/organizations/{org}/invitations", requirePerson(s.createInvitation))
	mux.Handle("DELETE /api/v1/invitations/{invitation}", requirePerson(s.deleteInvitation))
	mux.Handle("GET /api/v1/organizations/{org}/teams", requirePerson(s.listTeams))
	mux.Handle("POST /api/v1/organizations/{org}/teams", requirePerson(s.createTeam))
	mux.Handle("GET /api/v1/teams/{team}", requirePerson(s.getTeam))
	mux.Handle("PATCH /api/v1/teams/{team}", requirePerson(s.updateTeam))
	mux.Handle("DELETE /api/v1/teams/{team}", requirePerson(s.deleteTeam))
	mux.Handle("POST /api/v1/teams/{team}/members", requirePerson(s.addTeamMember))
	mux.Handle("DELETE /api/v1/teams/{team}/members/{user}", requirePerson(s.removeTeamMember))
	mux.Handle("GET /api/v1/organizations/{org}/roles", requirePerson(s.listRoles))
	mux.Handle("POST /api/v1/organizations/{org}/roles", requirePerson(s.createRole))
	mux.Handle("GET /api/v1/roles/{role}", requirePerson(s.getRole))
	mux.Handle("PATCH /api/v1/roles/{role}", requirePerson(s.updateRole))
	mux.Handle("DELETE /api/v1/roles/{role}", requirePerson(s.deleteRole))
	mux.Handle("GET /api/v1/organizations/{org}/role_assignments", requirePerson(s.listAssignments))
	mux.Handle("POST /api/v1/organizations/{org}/role_assignments", requirePerson(s.createAssignment))
	mux.Handle("DELETE /api/v1/role_assignments/{assignment}", requirePerson(s.deleteAssignment))
	mux.Handle("GET /api/v1/organizations/{org}/service_accounts", requirePerson(s.listServiceAccounts))
	mux.Handle("POST /api/v1/organizations/{org}/service_accounts", requirePerson(s.createServiceAccount))
	mux.Handle("DELETE /api/v1/service_accounts/{sa}", requirePerson(s.deleteServiceAccount))
	mux.Handle("GET /api/v1/service_accounts/{sa}/api_keys", requirePerson(s.listAPIKeys))
	mux.Handle("POST /api/v1/service_accounts/{sa}/api_keys", requirePerson(s.createAPIKey))
	mux.Handle("DELETE /api/v1/service_accounts/{sa}/api_keys/{key}", requirePerson(s.deleteAPIKey))

	// Workspaces and their enrollment.
	mux.Handle("GET /api/v1/workspaces", requirePerson(s.listWorkspaces))
	mux.Handle("POST /api/v1/workspaces", requirePerson(s.createWorkspace))
	mux.Handle("GET /api/v1/workspaces/{ws}", requirePerson(s.getWorkspace))
	mux.Handle("PATCH /api/v1/workspaces/{ws}", requirePerson(s.updateWorkspace))
	mux.Handle("DELETE /api/v1/workspaces/{ws}", requirePerson(s.deleteWorkspace))
	mux.Handle("POST /api/v1/workspaces/{ws}/enrollment_key", requirePerson(s.rotateEnrollmentKey))

	// What enrolled workspace servers call.
	mux.Handle("PATCH /api/v1/workspace_status", requireWorkspace(s.workspaceStatus))
	mux.Handle("POST /api/v1/rbac/check_permissions", requireWorkspace(s.checkPermissions))
	mux.Handle("GET /api/v1/rbac/allowed_resource_ids", requireWorkspace(s.allowedResourceIDs))
	mux.Handle("POST /api/v1/rbac/resource_members", requireWorkspace(s.resourceMembers))
	mux.Handle("DELETE /api/v1/rbac/resources", requireWorkspace(s.deleteResources))

	mux.HandleFunc("/api/", httpapi.NoRoute(mux))
}
