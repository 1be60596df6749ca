package workspace

import (
	"net/http"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
)

func validateUserRequest(u *client.UserRequest) error {
	return firstErr(
		checkName("name", u.Name),
		checkText("full_name", u.FullName, 255),
		checkText("email", u.Email, 255),
		checkPassword(u.Password),
	)
}

func checkPassword(pw string) error {
	if pw != "" && (len(pw) < 8 || len(pw) > 1024) {
		return errs.E(errs.Invalid, "password must be 8 to 1024 characters")
	}
	return nil
}

func validateUserUpdate(u *client.UserUpdate) error {
	var pwErr error
	if u.Password != nil {
		pwErr = checkPassword(*u.Password)
		if *u.Password == "" {
			pwErr = errs.E(errs.Invalid, "password must not be empty")
		}
	}
	return firstErr(checkOptName("name", u.Name), checkOptText("full_name", u.FullName, 255),
		checkOptText("email", u.Email, 255), pwErr)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, userSpec, "", false)
	if err != nil {
		return err
	}
	page, err := s.store.ListUsers(r.Context(), lq, false)
	if err != nil {
		return err
	}
	return ok(w, page)
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.UserRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validateUserRequest(&req); err != nil {
		return err
	}
	if s.pro != nil {
		return errs.E(errs.Forbidden, "in pro mode users come from the control plane")
	}
	if err := requireAdmin(p); err != nil {
		return err
	}
	u, err := s.store.CreateUser(r.Context(), req, false, "")
	if err != nil {
		return err
	}
	return ok(w, u)
}

// userOrSelf reads {id}, which may also be a user name.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	h, err := hydrate(r)
	if err != nil {
		return err
	}
	u, err := s.store.UserByName(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !h {
		u.Metadata = nil
	}
	return ok(w, u)
}

// updateUser lets users change themselves (not their admin flag or state)
// and admins change anyone.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var u client.UserUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := validateUserUpdate(&u); err != nil {
		return err
	}
	self := id == p.UserID
	if !p.Admin && (!self || u.IsAdmin != nil || u.Active != nil) {
		return errs.E(errs.Forbidden, "only an admin may change other users, admin rights or activation")
	}
	if self && p.Admin && u.IsAdmin != nil && !*u.IsAdmin {
		return errs.E(errs.Forbidden, "an admin cannot take away their own admin rights")
	}
	out, err := s.store.UpdateUser(r.Context(), id, u, self, nil)
	if err != nil {
		return err
	}
	return ok(w, out)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := firstErr(noQuery(r), requireAdmin(p)); err != nil {
		return err
	}
	if id == p.UserID {
		return errs.E(errs.Forbidden, "you cannot delete yourself")
	}
	if err := s.store.DeleteUser(r.Context(), id); err != nil {
		return err
	}
	return ok(w, nil)
}

// ---- service accounts

func (s *Server) listServiceAccounts(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, userSpec, "", false)
	if err != nil {
		return err
	}
	page, err := s.store.ListUsers(r.Context(), lq, true)
	if err != nil {
		return err
	}
	return ok(w, page)
}

func (s *Server) createServiceAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.ServiceAccountRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := firstErr(checkName("name", req.Name), checkText("description", req.Description, 65535), requireAdmin(p)); err != nil {
		return err
	}
	u, err := s.store.CreateUser(r.Context(), client.UserRequest{Name: req.Name, Active: req.Active}, true, req.Description)
	if err != nil {
		return err
	}
	return ok(w, u)
}

func (s *Server) serviceAccount(r *http.Request) (client.User, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return client.User{}, err
	}
	u, err := s.store.User(r.Context(), id, true)
	if err == nil && !u.Body.IsServiceAccount {
		err = errs.E(errs.NotFound, "service account %s not found", id)
	}
	return u, err
}

func (s *Server) getServiceAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	if _, err := hydrate(r); err != nil {
		return err
	}
	u, err := s.serviceAccount(r)
	if err != nil {
		return err
	}
	return ok(w, u)
}

func (s *Server) updateServiceAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	sa, err := s.serviceAccount(r)
	if err != nil {
		return err
	}
	var u client.ServiceAccountUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := firstErr(checkOptName("name", u.Name), checkOptText("description", u.Description, 65535), requireAdmin(p)); err != nil {
		return err
	}
	out, err := s.store.UpdateUser(r.Context(), sa.ID, client.UserUpdate{Name: u.Name, Active: u.Active}, false, u.Description)
	if err != nil {
		return err
	}
	return ok(w, out)
}

func (s *Server) deleteServiceAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	sa, err := s.serviceAccount(r)
	if err != nil {
		return err
	}
	if err := firstErr(noQuery(r), requireAdmin(p)); err != nil {
		return err
	}
	if err := s.store.DeleteUser(r.Context(), sa.ID); err != nil {
		return err
	}
	return ok(w, nil)
}

// ---- API keys

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request, p *principal) error {
	sa, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := requireAdmin(p); err != nil {
		return err
	}
	lq, err := parseList(r.URL.Query(), apiKeySpec)
	if err != nil {
		return err
	}
	page, err := s.store.ListAPIKeys(r.Context(), sa, lq)
	if err != nil {
		return err
	}
	return ok(w, page)
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request, p *principal) error {
	sa, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req client.APIKeyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := firstErr(checkName("name", req.Name), checkText("description", req.Description, 65535), requireAdmin(p)); err != nil {
		return err
	}
	k, err := s.store.CreateAPIKey(r.Context(), sa, req)
	if err != nil {
		return err
	}
	return ok(w, k)
}

func (s *Server) keyPath(r *http.Request, p *principal) (string, string, error) {
	sa, err := pathID(r, "id")
	if err != nil {
		return "", "", err
	}
	key, err := pathID(r, "key")
	if err != nil {
		return "", "", err
	}
	return sa, key, requireAdmin(p)
}

func (s *Server) getAPIKey(w http.ResponseWriter, r *http.Request, p *principal) error {
	sa, key, err := s.keyPath(r, p)
	if err != nil {
		return err
	}
	if _, err := hydrate(r); err != nil {
		return err
	}
	k, err := s.store.APIKey(r.Context(), sa, key)
	if err != nil {
		return err
	}
	return ok(w, k)
}

func (s *Server) rotateAPIKey(w http.ResponseWriter, r *http.Request, p *principal) error {
	sa, key, err := s.keyPath(r, p)
	if err != nil {
		return err
	}
	if err := noQuery(r); err != nil {
		return err
	}
	k, err := s.store.RotateAPIKey(r.Context(), sa, key)
	if err != nil {
		return err
	}
	return ok(w, k)
}

func (s *Server) deleteAPIKey(w http.ResponseWriter, r *http.Request, p *principal) error {
	sa, key, err := s.keyPath(r, p)
	if err != nil {
		return err
	}
	if err := noQuery(r); err != nil {
		return err
	}
	if err := s.store.DeleteAPIKey(r.Context(), sa, key); err != nil {
		return err
	}
	return ok(w, nil)
}
