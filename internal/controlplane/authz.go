package controlplane

import (
	"context"
	"net/http"

	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// grants turns the assignments that apply to userID in orgID into rbac grants,
// resolving custom roles. Project grants count only inside their own
// workspace, given as workspaceID ("" for organization-level questions).
func (s *Server) grants(ctx context.Context, orgID, userID, workspaceID string) ([]rbac.Grant, error) {
	as, err := s.store.AssignmentsOf(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	out := make([]rbac.Grant, 0, len(as))
	custom := map[string]rbac.Permissions{}
	for _, a := range as {
		if a.Scope == rbac.ScopeProject && (workspaceID == "" || a.WorkspaceID != workspaceID) {
			continue
		}
		perms, ok := rbac.Builtin(a.Role)
		if !ok {
			if perms, ok = custom[a.Role]; !ok {
				role, err := s.store.RoleByID(ctx, a.Role)
				if err != nil {
					if errs.Is(err, errs.NotFound) {
						continue
					}
					return nil, err
				}
				perms = role.Permissions
				custom[a.Role] = perms
			}
		}
		out = append(out, rbac.Grant{Scope: a.Scope, ScopeID: a.ScopeID, Permissions: perms})
	}
	return out, nil
}

// orgAccess checks that p may do action on resources of type t in orgID.
// A non-member sees no organization at all: 404, not 403, so that names and
// ids of other tenants do not leak.
func (s *Server) orgAccess(ctx context.Context, p *principal, orgID string, t rbac.ResourceType, action rbac.Action) (Organization, error) {
	org, err := s.store.OrganizationByID(ctx, orgID)
	if err != nil {
		return org, err
	}
	if p.User.IsSuperuser {
		return org, nil
	}
	member, err := s.store.IsMember(ctx, orgID, p.User.ID)
	if err != nil {
		return org, err
	}
	if !member {
		return org, errs.E(errs.NotFound, "organization %s not found", orgID)
	}
	gs, err := s.grants(ctx, orgID, p.User.ID, "")
	if err != nil {
		return org, err
	}
	if !rbac.Allowed(gs, nil, rbac.Target{OrganizationID: orgID, Resource: rbac.Resource{Type: t}}, action) {
		return org, errs.E(errs.Forbidden, "your role in this organization does not allow %s on %s", action, t)
	}
	return org, nil
}

// orgInPath reads the organization id of the path and checks action on
// resources of type t there, returning the id.
func (s *Server) orgInPath(r *http.Request, p *principal, t rbac.ResourceType, action rbac.Action) (string, error) {
	id, err := pathID(r, "org")
	if err != nil {
		return "", err
	}
	_, err = s.orgAccess(r.Context(), p, id, t, action)
	return id, err
}

// workspaceAccess checks that p may do action on the workspace itself.
// Someone with no role reaching the workspace gets 404.
func (s *Server) workspaceAccess(ctx context.Context, p *principal, id string, action rbac.Action) (Workspace, error) {
	ws, err := s.store.WorkspaceByID(ctx, id)
	if err != nil {
		return ws, err
	}
	if p.User.IsSuperuser {
		return ws, nil
	}
	gs, err := s.grants(ctx, ws.Organization.ID, p.User.ID, ws.ID)
	if err != nil {
		return ws, err
	}
	target := rbac.Target{OrganizationID: ws.Organization.ID, WorkspaceID: ws.ID, Resource: rbac.Resource{Type: rbac.Workspace, ID: ws.ID}}
	if !reaches(gs, ws) {
		return ws, errs.E(errs.NotFound, "workspace %s not found", id)
	}
	if !rbac.Allowed(gs, nil, target, action) {
		return ws, errs.E(errs.Forbidden, "your role does not allow %s on this workspace", action)
	}
	return ws, nil
}

// reaches reports whether any grant touches the workspace: organization-wide,
// on the workspace, or on one of its projects (grants holds project grants of
// this workspace only).
func reaches(gs []rbac.Grant, ws Workspace) bool {
	for _, g := range gs {
		switch g.Scope {
		case rbac.ScopeOrganization:
			if g.ScopeID == ws.Organization.ID {
				return true
			}
		case rbac.ScopeWorkspace:
			if g.ScopeID == ws.ID {
				return true
			}
		case rbac.ScopeProject:
			return true
		}
	}
	return false
}

// isAdminOf reports whether grants make the user an administrator of ws.
func isAdminOf(gs []rbac.Grant, ws Workspace) bool {
	return rbac.FullAccess(gs, rbac.Target{OrganizationID: ws.Organization.ID, WorkspaceID: ws.ID}, "user", rbac.Create)
}
