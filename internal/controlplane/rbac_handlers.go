package controlplane

import (
	"context"
	"net/http"
	"strings"

	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// maxResources bounds one check_permissions call.
const maxResources = 1000

// subject is a user as seen from one workspace: its grants and shares there.
type subject struct {
	superuser bool
	grants    []rbac.Grant
	shares    []rbac.ResourceShare
}

// subjectIn loads what userID may do in the calling workspace. A user who is
// unknown, deactivated or without any role there may do nothing.
func (s *Server) subjectIn(ctx context.Context, ws Workspace, userID string) (subject, error) {
	if err := checkID("user_id", userID); err != nil {
		return subject{}, err
	}
	u, err := s.store.UserByID(ctx, userID)
	if errs.Is(err, errs.NotFound) {
		return subject{}, nil
	}
	if err != nil || !u.Active {
		return subject{}, err
	}
	if u.IsSuperuser {
		return subject{superuser: true}, nil
	}
	gs, err := s.grants(ctx, ws.Organization.ID, userID, ws.ID)
	if err != nil {
		return subject{}, err
	}
	shares, err := s.store.SharesOf(ctx, ws.ID, userID)
	if err != nil {
		return subject{}, err
	}
	return subject{grants: gs, shares: shares}, nil
}

func (sub subject) allowed(ws Workspace, res rbac.Resource, action rbac.Action) bool {
	if sub.superuser {
		return true
	}
	return rbac.Allowed(sub.grants, sub.shares, rbac.Target{OrganizationID: ws.Organization.ID, WorkspaceID: ws.ID, Resource: res}, action)
}

func parseAction(v string) (rbac.Action, error) {
	a := rbac.Action(v)
	if !rbac.ValidAction(a) {
		return a, errs.E(errs.Invalid, "action %q is not one of %v", v, rbac.Actions)
	}
	return a, nil
}

// checkPermissions answers POST /rbac/check_permissions?user_id&action with a
// JSON list of resource strings in the body: {resource: allowed}.
func (s *Server) checkPermissions(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	if err := httpapi.QueryOnly(q, "user_id", "action"); err != nil {
		return err
	}
	action, err := parseAction(q.Get("action"))
	if err != nil {
		return err
	}
	var list []string
	if err := httpapi.DecodeJSON(r, &list); err != nil {
		return err
	}
	if len(list) > maxResources {
		return errs.E(errs.Invalid, "at most %d resources per call", maxResources)
	}
	parsed := make([]rbac.Resource, len(list))
	for i, s := range list {
		if parsed[i], err = rbac.ParseResource(s); err != nil {
			return errs.E(errs.Invalid, "%v", err)
		}
	}
	sub, err := s.subjectIn(r.Context(), p.Workspace, q.Get("user_id"))
	if err != nil {
		return err
	}
	out := make(map[string]bool, len(list))
	for i, res := range parsed {
		out[list[i]] = sub.allowed(p.Workspace, res, action)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// allowedResourceIDs answers GET /rbac/allowed_resource_ids?user_id&resource&action:
// full access, or the ids shared with the user one by one.
func (s *Server) allowedResourceIDs(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	if err := httpapi.QueryOnly(q, "user_id", "resource", "action"); err != nil {
		return err
	}
	action, err := parseAction(q.Get("action"))
	if err != nil {
		return err
	}
	res, err := rbac.ParseResource(q.Get("resource"))
	if err != nil {
		return errs.E(errs.Invalid, "%v", err)
	}
	if res.ID != "" {
		return errs.E(errs.Invalid, "resource must be a type without an id")
	}
	sub, err := s.subjectIn(r.Context(), p.Workspace, q.Get("user_id"))
	if err != nil {
		return err
	}
	ws := p.Workspace
	full := sub.superuser || rbac.FullAccess(sub.grants, rbac.Target{OrganizationID: ws.Organization.ID, WorkspaceID: ws.ID}, res.Type, action)
	if !full && res.Project != "" {
		// A grant on the project covers every resource of the type in it.
		full = rbac.Allowed(sub.grants, nil, rbac.Target{OrganizationID: ws.Organization.ID, WorkspaceID: ws.ID, Resource: res}, action)
	}
	ids := []string{}
	if !full {
		for _, sh := range sub.shares {
			if sh.Resource.Type == res.Type && sh.Resource.ID != "" && containsAction(sh.Actions, action) {
				ids = append(ids, sh.Resource.ID)
			}
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"full_access": full, "ids": ids})
	return nil
}

func containsAction(as []rbac.Action, a rbac.Action) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// resourceMembers records that a user shares one resource with another user
// or a team. The sharer needs the share action on it.
func (s *Server) resourceMembers(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req struct {
		UserID        string        `json:"user_id"`
		TeamID        string        `json:"team_id"`
		SharingUserID string        `json:"sharing_user_id"`
		Resource      string        `json:"resource"`
		Actions       []rbac.Action `json:"actions"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	res, err := rbac.ParseResource(req.Resource)
	if err != nil || res.ID == "" {
		return errs.E(errs.Invalid, "resource must name one resource: type/id")
	}
	if len(req.Actions) == 0 || len(req.Actions) > len(rbac.Actions) {
		return errs.E(errs.Invalid, "actions must list 1 to %d actions", len(rbac.Actions))
	}
	for _, a := range req.Actions {
		if !rbac.ValidAction(a) {
			return errs.E(errs.Invalid, "unknown action %q", a)
		}
	}
	ws := p.Workspace
	sharer, err := s.subjectIn(r.Context(), ws, req.SharingUserID)
	if err != nil {
		return err
	}
	if !sharer.allowed(ws, res, rbac.Share) {
		return errs.E(errs.Forbidden, "the sharing user may not share %s", req.Resource)
	}
	sh := Share{WorkspaceID: ws.ID, Resource: res.String(), Actions: req.Actions, SharedBy: req.SharingUserID}
	switch {
	case req.UserID != "" && req.TeamID == "":
		if err := checkID("user_id", req.UserID); err != nil {
			return err
		}
		if ok, err := s.store.IsMember(r.Context(), ws.Organization.ID, req.UserID); err != nil {
			return err
		} else if !ok {
			return errs.E(errs.Invalid, "user %s is not a member of the workspace's organization", req.UserID)
		}
		sh.SubjectType, sh.SubjectID = "user", req.UserID
	case req.TeamID != "" && req.UserID == "":
		if err := checkID("team_id", req.TeamID); err != nil {
			return err
		}
		t, err := s.store.TeamByID(r.Context(), req.TeamID)
		if err != nil || t.OrgID != ws.Organization.ID {
			return errs.E(errs.Invalid, "team %s is not a team of the workspace's organization", req.TeamID)
		}
		sh.SubjectType, sh.SubjectID = "team", req.TeamID
	default:
		return errs.E(errs.Invalid, "give exactly one of user_id and team_id")
	}
	if err := s.store.PutShare(r.Context(), &sh); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, sh)
	return nil
}

// deleteResources forgets the shares of resources a workspace deleted:
// DELETE /rbac/resources?resources=a&resources=b (or comma-separated).
func (s *Server) deleteResources(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	if err := httpapi.QueryOnly(q, "resources"); err != nil {
		return err
	}
	var list []string
	for _, v := range q["resources"] {
		for _, one := range strings.Split(v, ",") {
			if one = strings.TrimSpace(one); one != "" {
				list = append(list, one)
			}
		}
	}
	if len(list) == 0 || len(list) > maxResources {
		return errs.E(errs.Invalid, "resources must list 1 to %d resources", maxResources)
	}
	norm := make([]string, len(list))
	for i, v := range list {
		res, err := rbac.ParseResource(v)
		if err != nil {
			return errs.E(errs.Invalid, "%v", err)
		}
		norm[i] = res.String()
	}
	if err := s.store.DeleteShares(r.Context(), p.Workspace.ID, norm); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]int{"deleted": len(norm)})
	return nil
}
