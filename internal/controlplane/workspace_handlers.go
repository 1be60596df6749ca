package controlplane

import (
	"net/http"

	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// listWorkspaces answers GET /workspaces?organization_id=..&workspace_name=..
// with a plain list, as the seed's enrollment script reads it.
func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	if err := httpapi.QueryOnly(q, "organization_id", "workspace_name"); err != nil {
		return err
	}
	f := WorkspaceFilter{OrgID: q.Get("organization_id"), Name: q.Get("workspace_name")}
	if f.OrgID != "" {
		if err := checkID("organization_id", f.OrgID); err != nil {
			return err
		}
		if _, err := s.orgAccess(r.Context(), p, f.OrgID, rbac.Workspace, rbac.Read); err != nil {
			return err
		}
	}
	if f.Name != "" {
		if err := checkWorkspaceName(f.Name); err != nil {
			return err
		}
	}
	if !p.User.IsSuperuser {
		f.VisibleTo = p.User.ID
	}
	ws, err := s.store.ListWorkspaces(r.Context(), f)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ws)
	return nil
}

// createWorkspace answers POST /workspaces[?enroll=True] with 200 and the
// workspace; with enroll, the enrollment key is in this answer and nowhere
// else, ever.
func (s *Server) createWorkspace(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	if err := httpapi.QueryOnly(q, "enroll"); err != nil {
		return err
	}
	enroll, err := httpapi.Bool(q, "enroll", false)
	if err != nil {
		return err
	}
	var req struct {
		Name           string `json:"name"`
		OrganizationID string `json:"organization_id"`
		Description    string `json:"description"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := checkWorkspaceName(req.Name); err != nil {
		return err
	}
	if err := checkID("organization_id", req.OrganizationID); err != nil {
		return err
	}
	if err := checkDescription(req.Description); err != nil {
		return err
	}
	org, err := s.orgAccess(r.Context(), p, req.OrganizationID, rbac.Workspace, rbac.Create)
	if err != nil {
		return err
	}
	ws := Workspace{Name: req.Name, Description: req.Description, Organization: OrgRef{ID: org.ID, Name: org.Name}}
	var key, hash string
	if enroll {
		if key, hash, err = newEnrollmentKey(); err != nil {
			return err
		}
	}
	if err := s.store.CreateWorkspace(r.Context(), &ws, hash, p.User.ID); err != nil {
		return err
	}
	ws.EnrollmentKey = key
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusOK, ws)
	return nil
}

func newEnrollmentKey() (key, hash string, err error) {
	key = auth.RandomSecret(32)
	hash, err = auth.HashSecret(key)
	return key, hash, err
}

func (s *Server) getWorkspace(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "ws")
	if err != nil {
		return err
	}
	ws, err := s.workspaceAccess(r.Context(), p, id, rbac.Read)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ws)
	return nil
}

func (s *Server) updateWorkspace(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "ws")
	if err != nil {
		return err
	}
	var req struct {
		Description *string `json:"description"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	ws, err := s.workspaceAccess(r.Context(), p, id, rbac.Update)
	if err != nil {
		return err
	}
	if req.Description != nil {
		if err := checkDescription(*req.Description); err != nil {
			return err
		}
		ws.Description = *req.Description
	}
	if err := s.store.UpdateWorkspace(r.Context(), ws); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ws)
	return nil
}

func (s *Server) deleteWorkspace(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "ws")
	if err != nil {
		return err
	}
	ws, err := s.workspaceAccess(r.Context(), p, id, rbac.Delete)
	if err != nil {
		return err
	}
	if err := s.store.DeleteWorkspace(r.Context(), id); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ws)
	return nil
}

// rotateEnrollmentKey replaces a workspace's key; the old one stops working
// at once (tokens already issued run out at their expiry).
func (s *Server) rotateEnrollmentKey(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "ws")
	if err != nil {
		return err
	}
	ws, err := s.workspaceAccess(r.Context(), p, id, rbac.Update)
	if err != nil {
		return err
	}
	if _, err := s.orgAccess(r.Context(), p, ws.Organization.ID, rbac.Workspace, rbac.Create); err != nil {
		return err
	}
	key, hash, err := newEnrollmentKey()
	if err != nil {
		return err
	}
	if err := s.store.SetEnrollmentKey(r.Context(), id, hash); err != nil {
		return err
	}
	ws.Enrolled, ws.EnrollmentKey = true, key
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusOK, ws)
	return nil
}

// workspaceStatus records a workspace server's report about itself.
func (s *Server) workspaceStatus(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req struct {
		Version      string `json:"version"`
		URL          string `json:"url"`
		Health       string `json:"health"`
		DatabaseType string `json:"database_type"`
		ServerID     string `json:"server_id"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	for field, v := range map[string]string{"version": req.Version, "health": req.Health, "database_type": req.DatabaseType} {
		if len(v) > 100 {
			return errs.E(errs.Invalid, "%s is longer than 100 characters", field)
		}
	}
	if len(req.URL) > 1000 {
		return errs.E(errs.Invalid, "url is longer than 1000 characters")
	}
	if req.ServerID != "" && req.ServerID != p.Workspace.ID {
		return errs.E(errs.Forbidden, "a workspace may report only its own status")
	}
	st := WorkspaceStatus{Version: req.Version, URL: req.URL, Health: req.Health, DatabaseType: req.DatabaseType}
	if err := s.store.UpdateWorkspaceStatus(r.Context(), p.Workspace.ID, st); err != nil {
		return err
	}
	ws, err := s.store.WorkspaceByID(r.Context(), p.Workspace.ID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ws)
	return nil
}

// authorizeServer tells a workspace server, on behalf of a user who presents
// its control-plane token, whether that user may use the workspace.
func (s *Server) authorizeServer(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	if err := httpapi.QueryOnly(q, "server_id"); err != nil {
		return err
	}
	id := q.Get("server_id")
	if err := checkID("server_id", id); err != nil {
		return err
	}
	ws, err := s.store.WorkspaceByID(r.Context(), id)
	if err != nil {
		return err
	}
	isAdmin := p.User.IsSuperuser
	if !p.User.IsSuperuser {
		gs, err := s.grants(r.Context(), ws.Organization.ID, p.User.ID, ws.ID)
		if err != nil {
			return err
		}
		if !reaches(gs, ws) {
			return errs.E(errs.Forbidden, "you have no role in workspace %s", ws.Name)
		}
		isAdmin = isAdminOf(gs, ws)
	}
	name := p.User.Name
	if name == "" {
		name = p.User.Username
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"id": p.User.ID, "email": p.User.Email, "name": name, "username": p.User.Username,
		"is_admin": isAdmin, "is_service_account": p.User.IsServiceAccount,
	})
	return nil
}
