package controlplane

import (
	"net/http"

	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

func requireSuperuser(p *principal) error {
	if !p.User.IsSuperuser {
		return errs.E(errs.Forbidden, "only an administrator of the control plane may do this")
	}
	return nil
}

// createUser adds a person; only the control plane's administrators may.
// Organization admins invite people instead.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req struct {
		Username    string `json:"username"`
		Password    string `json:"password"`
		Email       string `json:"email"`
		Name        string `json:"name"`
		IsSuperuser bool   `json:"is_superuser"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := requireSuperuser(p); err != nil {
		return err
	}
	if err := checkUsername(req.Username); err != nil {
		return err
	}
	if err := checkPassword(req.Password); err != nil {
		return err
	}
	if err := checkEmail(req.Email); err != nil {
		return err
	}
	if req.Name != "" {
		if err := checkName("name", req.Name, 255); err != nil {
			return err
		}
	}
	hash, err := auth.HashSecret(req.Password)
	if err != nil {
		return err
	}
	u := User{Username: req.Username, Email: req.Email, Name: req.Name, IsSuperuser: req.IsSuperuser, Active: true}
	if err := s.store.CreateUser(r.Context(), &u, hash); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := requireSuperuser(p); err != nil {
		return err
	}
	us, err := s.store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, us)
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "user")
	if err != nil {
		return err
	}
	if id != p.User.ID && !p.User.IsSuperuser {
		return errs.E(errs.NotFound, "user %s not found", id)
	}
	u, err := s.store.UserByID(r.Context(), id)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, u)
	return nil
}

// updateUser changes name and email (the user itself or an administrator) and
// the active flag (administrators only: deactivating ends every session at
// the next request).
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "user")
	if err != nil {
		return err
	}
	var req struct {
		Name   *string `json:"name"`
		Email  *string `json:"email"`
		Active *bool   `json:"active"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if id != p.User.ID && !p.User.IsSuperuser {
		return errs.E(errs.NotFound, "user %s not found", id)
	}
	u, err := s.store.UserByID(r.Context(), id)
	if err != nil {
		return err
	}
	if req.Name != nil {
		if *req.Name != "" {
			if err := checkName("name", *req.Name, 255); err != nil {
				return err
			}
		}
		u.Name = *req.Name
	}
	if req.Email != nil {
		if err := checkEmail(*req.Email); err != nil {
			return err
		}
		u.Email = *req.Email
	}
	if req.Active != nil {
		if err := requireSuperuser(p); err != nil {
			return err
		}
		if id == p.User.ID && !*req.Active {
			return errs.E(errs.Forbidden, "you cannot deactivate yourself")
		}
		u.Active = *req.Active
	}
	if err := s.store.UpdateUser(r.Context(), u); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) listServiceAccounts(w http.ResponseWriter, r *http.Request, p *principal) error {
	orgID, err := s.orgInPath(r, p, rbac.ServiceAccount, rbac.Read)
	if err != nil {
		return err
	}
	ms, err := s.store.ListMembers(r.Context(), orgID)
	if err != nil {
		return err
	}
	out := []Member{}
	for _, m := range ms {
		if m.User.IsServiceAccount {
			out = append(out, m)
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// createServiceAccount adds a service account as a member of the
// organization with a role; it logs in with API keys only.
func (s *Server) createServiceAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	orgID, err := pathID(r, "org")
	if err != nil {
		return err
	}
	var req struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Role        string `json:"role"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := checkUsername(req.Name); err != nil {
		return err
	}
	if req.Description != "" {
		if err := checkName("description", req.Description, 255); err != nil {
			return err
		}
	}
	if req.Role == "" {
		req.Role = rbac.ViewerRole
	}
	if err := checkRoleName(req.Role); err != nil {
		return err
	}
	if _, err := s.orgAccess(r.Context(), p, orgID, rbac.ServiceAccount, rbac.Create); err != nil {
		return err
	}
	if err := s.checkOrgRole(r, orgID, req.Role); err != nil {
		return err
	}
	u := User{Username: req.Name, Name: req.Description, IsServiceAccount: true, Active: true}
	if err := s.store.CreateServiceAccount(r.Context(), &u, orgID, req.Role); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, Member{User: u, Roles: []string{req.Role}})
	return nil
}

// serviceAccount loads a service account and checks action on service
// accounts in one of its organizations.
func (s *Server) serviceAccount(r *http.Request, p *principal, action rbac.Action) (User, error) {
	id, err := pathID(r, "sa")
	if err != nil {
		return User{}, err
	}
	u, err := s.store.UserByID(r.Context(), id)
	if err != nil || !u.IsServiceAccount {
		return u, errs.E(errs.NotFound, "service account %s not found", id)
	}
	orgs, err := s.store.ListOrganizations(r.Context(), u.ID)
	if err != nil {
		return u, err
	}
	for _, o := range orgs {
		if _, err := s.orgAccess(r.Context(), p, o.ID, rbac.ServiceAccount, action); err == nil {
			return u, nil
		} else if !errs.Is(err, errs.NotFound) {
			return u, err
		}
	}
	return u, errs.E(errs.NotFound, "service account %s not found", id)
}

func (s *Server) deleteServiceAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, err := s.serviceAccount(r, p, rbac.Delete)
	if err != nil {
		return err
	}
	if err := s.store.DeleteServiceAccount(r.Context(), u.ID); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"id": u.ID})
	return nil
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, err := s.serviceAccount(r, p, rbac.Read)
	if err != nil {
		return err
	}
	ks, err := s.store.ListAPIKeys(r.Context(), u.ID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ks)
	return nil
}

// createAPIKey makes a key for a service account. The answer holds the key
// once, as "<key id>.<secret>"; log in with client_credentials, client_id =
// key id and client_secret = secret.
func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req struct {
		Name string `json:"name"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := checkName("key name", req.Name, 100); err != nil {
		return err
	}
	u, err := s.serviceAccount(r, p, rbac.Update)
	if err != nil {
		return err
	}
	secret := auth.RandomSecret(32)
	hash, err := auth.HashSecret(secret)
	if err != nil {
		return err
	}
	k := APIKey{UserID: u.ID, Name: req.Name}
	if err := s.store.CreateAPIKey(r.Context(), &k, hash); err != nil {
		return err
	}
	k.Key = k.ID + "." + secret
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusOK, k)
	return nil
}

func (s *Server) deleteAPIKey(w http.ResponseWriter, r *http.Request, p *principal) error {
	keyID, err := pathID(r, "key")
	if err != nil {
		return err
	}
	u, err := s.serviceAccount(r, p, rbac.Update)
	if err != nil {
		return err
	}
	k, err := s.store.APIKeyByID(r.Context(), keyID)
	if err != nil || k.UserID != u.ID {
		return errs.E(errs.NotFound, "API key %s not found", keyID)
	}
	if err := s.store.DeleteAPIKey(r.Context(), keyID); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"id": keyID})
	return nil
}
