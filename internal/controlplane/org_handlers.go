package controlplane

import (
	"net/http"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// pathID reads and checks a UUID path wildcard.
func pathID(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	return v, checkID(name, v)
}

func (s *Server) listOrganizations(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := httpapi.QueryOnly(r.URL.Query()); err != nil {
		return err
	}
	viewer := p.User.ID
	if p.User.IsSuperuser {
		viewer = ""
	}
	orgs, err := s.store.ListOrganizations(r.Context(), viewer)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, orgs)
	return nil
}

type orgRequest struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

func (s *Server) createOrganization(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req orgRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if p.User.IsServiceAccount {
		return errs.E(errs.Forbidden, "service accounts cannot create organizations")
	}
	if req.Name == nil {
		return errs.E(errs.Invalid, "name is required")
	}
	o := Organization{Name: *req.Name}
	if req.Description != nil {
		o.Description = *req.Description
	}
	if err := checkName("organization name", o.Name, 100); err != nil {
		return err
	}
	if err := checkDescription(o.Description); err != nil {
		return err
	}
	if err := s.store.CreateOrganization(r.Context(), &o, p.User.ID); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, o)
	return nil
}

func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "org")
	if err != nil {
		return err
	}
	o, err := s.orgAccess(r.Context(), p, id, rbac.Organization, rbac.Read)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, o)
	return nil
}

func (s *Server) updateOrganization(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "org")
	if err != nil {
		return err
	}
	var req orgRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	o, err := s.orgAccess(r.Context(), p, id, rbac.Organization, rbac.Update)
	if err != nil {
		return err
	}
	if req.Name != nil {
		if err := checkName("organization name", *req.Name, 100); err != nil {
			return err
		}
		o.Name = *req.Name
	}
	if req.Description != nil {
		if err := checkDescription(*req.Description); err != nil {
			return err
		}
		o.Description = *req.Description
	}
	if err := s.store.UpdateOrganization(r.Context(), o); err != nil {
		return err
	}
	o, err = s.store.OrganizationByID(r.Context(), id)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, o)
	return nil
}

func (s *Server) deleteOrganization(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := s.orgInPath(r, p, rbac.Organization, rbac.Delete)
	if err != nil {
		return err
	}
	if err := s.store.DeleteOrganization(r.Context(), id); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"id": id})
	return nil
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := s.orgInPath(r, p, rbac.Member, rbac.Read)
	if err != nil {
		return err
	}
	ms, err := s.store.ListMembers(r.Context(), id)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ms)
	return nil
}

type memberRequest struct {
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	Role     string `json:"role"`
}

// addMember adds an existing user, by id or username, with a role.
func (s *Server) addMember(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "org")
	if err != nil {
		return err
	}
	var req memberRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = rbac.ViewerRole
	}
	if err := checkRoleName(req.Role); err != nil {
		return err
	}
	if (req.UserID == "") == (req.Username == "") {
		return errs.E(errs.Invalid, "give exactly one of user_id and username")
	}
	if _, err := s.orgAccess(r.Context(), p, id, rbac.Member, rbac.Create); err != nil {
		return err
	}
	if err := s.checkOrgRole(r, id, req.Role); err != nil {
		return err
	}
	var u User
	if req.UserID != "" {
		if err := checkID("user_id", req.UserID); err != nil {
			return err
		}
		u, err = s.store.UserByID(r.Context(), req.UserID)
	} else {
		u, err = s.store.UserByUsername(r.Context(), req.Username)
	}
	if err != nil {
		return err
	}
	if err := s.store.AddMember(r.Context(), id, u.ID, req.Role); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, Member{User: u, Roles: []string{req.Role}})
	return nil
}

// checkOrgRole checks that a custom role id belongs to the organization.
func (s *Server) checkOrgRole(r *http.Request, orgID, role string) error {
	if rbac.IsBuiltin(role) {
		return nil
	}
	cr, err := s.store.RoleByID(r.Context(), role)
	if err != nil || cr.OrgID != orgID {
		return errs.E(errs.Invalid, "role %s is not a role of this organization", role)
	}
	return nil
}

// setMemberRole replaces a member's organization-wide role.
func (s *Server) setMemberRole(w http.ResponseWriter, r *http.Request, p *principal) error {
	orgID, err := pathID(r, "org")
	if err != nil {
		return err
	}
	userID, err := pathID(r, "user")
	if err != nil {
		return err
	}
	var req struct {
		Role string `json:"role"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := checkRoleName(req.Role); err != nil {
		return err
	}
	if _, err := s.orgAccess(r.Context(), p, orgID, rbac.Member, rbac.Update); err != nil {
		return err
	}
	if err := s.checkOrgRole(r, orgID, req.Role); err != nil {
		return err
	}
	if ok, err := s.store.IsMember(r.Context(), orgID, userID); err != nil {
		return err
	} else if !ok {
		return errs.E(errs.NotFound, "user %s is not a member", userID)
	}
	if err := s.store.SetOrgRole(r.Context(), orgID, userID, req.Role); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"user_id": userID, "role": req.Role})
	return nil
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request, p *principal) error {
	orgID, err := pathID(r, "org")
	if err != nil {
		return err
	}
	userID, err := pathID(r, "user")
	if err != nil {
		return err
	}
	if _, err := s.orgAccess(r.Context(), p, orgID, rbac.Member, rbac.Delete); err != nil {
		return err
	}
	if err := s.store.RemoveMember(r.Context(), orgID, userID); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"user_id": userID})
	return nil
}

const invitationTTL = 7 * 24 * time.Hour

func (s *Server) createInvitation(w http.ResponseWriter, r *http.Request, p *principal) error {
	orgID, err := pathID(r, "org")
	if err != nil {
		return err
	}
	var req struct {
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Email == "" {
		return errs.E(errs.Invalid, "email is required")
	}
	if err := checkEmail(req.Email); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = rbac.ViewerRole
	}
	if err := checkRoleName(req.Role); err != nil {
		return err
	}
	if _, err := s.orgAccess(r.Context(), p, orgID, rbac.Member, rbac.Create); err != nil {
		return err
	}
	if err := s.checkOrgRole(r, orgID, req.Role); err != nil {
		return err
	}
	inv := Invitation{ID: newID(), OrgID: orgID, Email: req.Email, Role: req.Role, Expires: s.cfg.Now().Add(invitationTTL).UTC()}
	secret := auth.RandomSecret(24)
	hash, err := auth.HashSecret(secret)
	if err != nil {
		return err
	}
	if err := s.store.CreateInvitation(r.Context(), &inv, hash, p.User.ID); err != nil {
		return err
	}
	inv.Token = inv.ID + "." + secret
	httpapi.WriteJSON(w, http.StatusOK, inv)
	return nil
}

func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request, p *principal) error {
	orgID, err := s.orgInPath(r, p, rbac.Member, rbac.Read)
	if err != nil {
		return err
	}
	invs, err := s.store.ListInvitations(r.Context(), orgID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, invs)
	return nil
}

func (s *Server) deleteInvitation(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "invitation")
	if err != nil {
		return err
	}
	inv, err := s.store.InvitationByID(r.Context(), id)
	if err != nil {
		return err
	}
	if _, err := s.orgAccess(r.Context(), p, inv.OrgID, rbac.Member, rbac.Delete); err != nil {
		return err
	}
	if err := s.store.DeleteInvitation(r.Context(), id); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"id": id})
	return nil
}

// acceptInvitation needs no login: the token is the credential. It creates
// the account and the membership together.
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Token    string `json:"token"`
		Username string `json:"username"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := checkUsername(req.Username); err != nil {
		return err
	}
	if err := checkPassword(req.Password); err != nil {
		return err
	}
	if req.Name != "" {
		if err := checkName("name", req.Name, 255); err != nil {
			return err
		}
	}
	id, secret, ok := strings.Cut(req.Token, ".")
	if !ok || checkID("token", id) != nil {
		return errs.E(errs.Unauthenticated, "invalid invitation token")
	}
	_, err := s.throttled(r, "invitation:"+id, func() (tokenAnswer, error) {
		inv, err := s.store.InvitationByID(r.Context(), id)
		if err != nil && !errs.Is(err, errs.NotFound) {
			return tokenAnswer{}, err
		}
		if !auth.CheckSecret(inv.tokenHash, secret) {
			return tokenAnswer{}, errs.E(errs.Unauthenticated, "invalid invitation token")
		}
		if inv.AcceptedBy != "" || !s.cfg.Now().Before(inv.Expires) {
			return tokenAnswer{}, errs.E(errs.Conflict, "the invitation was used or has expired")
		}
		hash, err := auth.HashSecret(req.Password)
		if err != nil {
			return tokenAnswer{}, err
		}
		u := User{Username: req.Username, Name: req.Name, Email: inv.Email, Active: true}
		if err := s.store.AcceptInvitation(r.Context(), inv, &u, hash); err != nil {
			return tokenAnswer{}, err
		}
		httpapi.WriteJSON(w, http.StatusOK, u)
		return tokenAnswer{}, nil
	})
	return err
}
