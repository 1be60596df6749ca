package controlplane

import (
	"net/http"

	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

type teamRequest struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

func (req teamRequest) apply(t *Team) error {
	if req.Name != nil {
		if err := checkName("team name", *req.Name, 100); err != nil {
			return err
		}
		t.Name = *req.Name
	}
	if req.Description != nil {
		if err := checkDescription(*req.Description); err != nil {
			return err
		}
		t.Description = *req.Description
	}
	return nil
}

func (s *Server) listTeams(w http.ResponseWriter, r *http.Request, p *principal) error {
	orgID, err := s.orgInPath(r, p, rbac.Team, rbac.Read)
	if err != nil {
		return err
	}
	ts, err := s.store.ListTeams(r.Context(), orgID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ts)
	return nil
}

func (s *Server) createTeam(w http.ResponseWriter, r *http.Request, p *principal) error {
	orgID, err := pathID(r, "org")
	if err != nil {
		return err
	}
	var req teamRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return errs.E(errs.Invalid, "name is required")
	}
	t := Team{OrgID: orgID}
	if err := req.apply(&t); err != nil {
		return err
	}
	if _, err := s.orgAccess(r.Context(), p, orgID, rbac.Team, rbac.Create); err != nil {
		return err
	}
	if err := s.store.CreateTeam(r.Context(), &t); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, t)
	return nil
}

// team loads a team and checks action on teams of its organization.
func (s *Server) team(r *http.Request, p *principal, action rbac.Action) (Team, error) {
	id, err := pathID(r, "team")
	if err != nil {
		return Team{}, err
	}
	t, err := s.store.TeamByID(r.Context(), id)
	if err != nil {
		return t, err
	}
	_, err = s.orgAccess(r.Context(), p, t.OrgID, rbac.Team, action)
	if errs.Is(err, errs.NotFound) {
		return t, errs.E(errs.NotFound, "team %s not found", id)
	}
	return t, err
}

func (s *Server) getTeam(w http.ResponseWriter, r *http.Request, p *principal) error {
	t, err := s.team(r, p, rbac.Read)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) updateTeam(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req teamRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	t, err := s.team(r, p, rbac.Update)
	if err != nil {
		return err
	}
	if err := req.apply(&t); err != nil {
		return err
	}
	if err := s.store.UpdateTeam(r.Context(), t); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) deleteTeam(w http.ResponseWriter, r *http.Request, p *principal) error {
	t, err := s.team(r, p, rbac.Delete)
	if err != nil {
		return err
	}
	if err := s.store.DeleteTeam(r.Context(), t.ID); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"id": t.ID})
	return nil
}

func (s *Server) addTeamMember(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req struct {
		UserID string `json:"user_id"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := checkID("user_id", req.UserID); err != nil {
		return err
	}
	t, err := s.team(r, p, rbac.Update)
	if err != nil {
		return err
	}
	if err := s.store.AddTeamMember(r.Context(), t.ID, req.UserID); err != nil {
		return err
	}
	t, err = s.store.TeamByID(r.Context(), t.ID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) removeTeamMember(w http.ResponseWriter, r *http.Request, p *principal) error {
	userID, err := pathID(r, "user")
	if err != nil {
		return err
	}
	t, err := s.team(r, p, rbac.Update)
	if err != nil {
		return err
	}
	if err := s.store.RemoveTeamMember(r.Context(), t.ID, userID); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"team_id": t.ID, "user_id": userID})
	return nil
}

type roleRequest struct {
	Name        *string          `json:"name"`
	Description *string          `json:"description"`
	Permissions rbac.Permissions `json:"permissions"`
}

func (req roleRequest) apply(ro *Role) error {
	if req.Name != nil {
		if err := checkName("role name", *req.Name, 100); err != nil {
			return err
		}
		if rbac.IsBuiltin(*req.Name) {
			return errs.E(errs.Invalid, "%q is the name of a built-in role", *req.Name)
		}
		ro.Name = *req.Name
	}
	if req.Description != nil {
		if err := checkDescription(*req.Description); err != nil {
			return err
		}
		ro.Description = *req.Description
	}
	if req.Permissions != nil {
		if err := req.Permissions.Validate(); err != nil {
			return errs.E(errs.Invalid, "permissions: %v", err)
		}
		ro.Permissions = req.Permissions
	}
	return nil
}

// listRoles returns the built-in roles followed by the organization's own.
func (s *Server) listRoles(w http.ResponseWriter, r *http.Request, p *principal) error {
	orgID, err := s.orgInPath(r, p, rbac.Role, rbac.Read)
	if err != nil {
		return err
	}
	var out []Role
	for _, name := range []string{rbac.AdminRole, rbac.EditorRole, rbac.ViewerRole} {
		perms, _ := rbac.Builtin(name)
		out = append(out, Role{ID: name, Name: name, Builtin: true, Permissions: perms})
	}
	custom, err := s.store.ListRoles(r.Context(), orgID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, append(out, custom...))
	return nil
}

func (s *Server) createRole(w http.ResponseWriter, r *http.Request, p *principal) error {
	orgID, err := pathID(r, "org")
	if err != nil {
		return err
	}
	var req roleRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == nil || req.Permissions == nil {
		return errs.E(errs.Invalid, "name and permissions are required")
	}
	ro := Role{OrgID: orgID}
	if err := req.apply(&ro); err != nil {
		return err
	}
	if _, err := s.orgAccess(r.Context(), p, orgID, rbac.Role, rbac.Create); err != nil {
		return err
	}
	if err := s.store.CreateRole(r.Context(), &ro); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ro)
	return nil
}

func (s *Server) role(r *http.Request, p *principal, action rbac.Action) (Role, error) {
	id, err := pathID(r, "role")
	if err != nil {
		return Role{}, err
	}
	ro, err := s.store.RoleByID(r.Context(), id)
	if err != nil {
		return ro, err
	}
	_, err = s.orgAccess(r.Context(), p, ro.OrgID, rbac.Role, action)
	if errs.Is(err, errs.NotFound) {
		return ro, errs.E(errs.NotFound, "role %s not found", id)
	}
	return ro, err
}

func (s *Server) getRole(w http.ResponseWriter, r *http.Request, p *principal) error {
	ro, err := s.role(r, p, rbac.Read)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ro)
	return nil
}

func (s *Server) updateRole(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req roleRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	ro, err := s.role(r, p, rbac.Update)
	if err != nil {
		return err
	}
	if err := req.apply(&ro); err != nil {
		return err
	}
	if err := s.store.UpdateRole(r.Context(), ro); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ro)
	return nil
}

func (s *Server) deleteRole(w http.ResponseWriter, r *http.Request, p *principal) error {
	ro, err := s.role(r, p, rbac.Delete)
	if err != nil {
		return err
	}
	if err := s.store.DeleteRole(r.Context(), ro.ID); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"id": ro.ID})
	return nil
}

func (s *Server) listAssignments(w http.ResponseWriter, r *http.Request, p *principal) error {
	orgID, err := s.orgInPath(r, p, rbac.Role, rbac.Read)
	if err != nil {
		return err
	}
	as, err := s.store.ListAssignments(r.Context(), orgID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, as)
	return nil
}

type assignmentRequest struct {
	Role        string     `json:"role"`
	UserID      string     `json:"user_id"`
	TeamID      string     `json:"team_id"`
	Scope       rbac.Scope `json:"scope"`
	WorkspaceID string     `json:"workspace_id"`
	ProjectID   string     `json:"project_id"`
}

// createAssignment gives a member or team a role on the organization, one
// workspace, or one project of a workspace.
func (s *Server) createAssignment(w http.ResponseWriter, r *http.Request, p *principal) error {
	orgID, err := pathID(r, "org")
	if err != nil {
		return err
	}
	var req assignmentRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := checkRoleName(req.Role); err != nil {
		return err
	}
	if _, err := s.orgAccess(r.Context(), p, orgID, rbac.Role, rbac.Create); err != nil {
		return err
	}
	if err := s.checkOrgRole(r, orgID, req.Role); err != nil {
		return err
	}
	a := Assignment{OrgID: orgID, Role: req.Role, Scope: req.Scope}
	switch {
	case req.UserID != "" && req.TeamID == "":
		if err := checkID("user_id", req.UserID); err != nil {
			return err
		}
		if ok, err := s.store.IsMember(r.Context(), orgID, req.UserID); err != nil {
			return err
		} else if !ok {
			return errs.E(errs.Invalid, "user %s is not a member of the organization", req.UserID)
		}
		a.SubjectType, a.SubjectID = "user", req.UserID
	case req.TeamID != "" && req.UserID == "":
		if err := checkID("team_id", req.TeamID); err != nil {
			return err
		}
		t, err := s.store.TeamByID(r.Context(), req.TeamID)
		if err != nil || t.OrgID != orgID {
			return errs.E(errs.Invalid, "team %s is not a team of the organization", req.TeamID)
		}
		a.SubjectType, a.SubjectID = "team", req.TeamID
	default:
		return errs.E(errs.Invalid, "give exactly one of user_id and team_id")
	}
	switch req.Scope {
	case rbac.ScopeOrganization:
		a.ScopeID = orgID
	case rbac.ScopeWorkspace, rbac.ScopeProject:
		if err := checkID("workspace_id", req.WorkspaceID); err != nil {
			return err
		}
		ws, err := s.store.WorkspaceByID(r.Context(), req.WorkspaceID)
		if err != nil || ws.Organization.ID != orgID {
			return errs.E(errs.Invalid, "workspace %s is not a workspace of the organization", req.WorkspaceID)
		}
		a.WorkspaceID, a.ScopeID = ws.ID, ws.ID
		if req.Scope == rbac.ScopeProject {
			if _, err := rbac.ParseResource(req.ProjectID + ":project"); err != nil || req.ProjectID == "" {
				return errs.E(errs.Invalid, "project_id %q is not a valid id", req.ProjectID)
			}
			a.ScopeID = req.ProjectID
		}
	default:
		return errs.E(errs.Invalid, "scope must be organization, workspace or project")
	}
	if err := s.store.CreateAssignment(r.Context(), &a); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) deleteAssignment(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "assignment")
	if err != nil {
		return err
	}
	a, err := s.store.AssignmentByID(r.Context(), id)
	if err != nil {
		return err
	}
	if _, err := s.orgAccess(r.Context(), p, a.OrgID, rbac.Role, rbac.Delete); err != nil {
		if errs.Is(err, errs.NotFound) {
			return errs.E(errs.NotFound, "role assignment %s not found", id)
		}
		return err
	}
	if err := s.store.DeleteAssignment(r.Context(), id); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"id": id})
	return nil
}
