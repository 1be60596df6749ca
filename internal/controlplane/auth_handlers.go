package controlplane

import (
	"net/http"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/version"
)

// tokenAnswer is the OAuth2 token response the wire's clients read.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// login handles POST /api/v1/auth/login: the password grant (grant_type empty
// or "password"), client_credentials for workspaces and service-account API
// keys, and refresh_token.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	form, err := httpapi.DecodeForm(r)
	if err != nil {
		return err
	}
	for k, v := range form {
		if len(v) > 1 {
			return errs.E(errs.Invalid, "form field %s is given more than once", k)
		}
	}
	var ans tokenAnswer
	switch grant := form.Get("grant_type"); grant {
	case "", "password":
		ans, err = s.passwordLogin(r, form.Get("username"), form.Get("password"))
	case "client_credentials":
		ans, err = s.clientLogin(r, form.Get("client_id"), form.Get("client_secret"), form.Get("audience"))
	case "refresh_token":
		ans, err = s.refreshLogin(r, form.Get("refresh_token"))
	default:
		return errs.E(errs.Invalid, "grant_type %q is not supported (password, client_credentials or refresh_token)", grant)
	}
	if err != nil {
		return err
	}
	if r.URL.Query().Get("cookie") == "true" {
		s.setSessionCookie(w, r, ans.AccessToken, ans.ExpiresIn)
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusOK, ans)
	return nil
}

// throttled runs check under the login throttle of key: slowed after a few
// failures, locked out after more.
func (s *Server) throttled(r *http.Request, key string, check func() (tokenAnswer, error)) (tokenAnswer, error) {
	ok, wait, retry := s.throttle.Check(key)
	if !ok {
		return tokenAnswer{}, errs.E(errs.TooMany, "too many failed logins: try again in %s", retry.Round(time.Second))
	}
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
			return tokenAnswer{}, r.Context().Err()
		}
	}
	ans, err := check()
	if err != nil {
		if errs.Is(err, errs.Unauthenticated) {
			s.throttle.Fail(key)
			httpapi.Logger(r.Context()).Info("failed login", "key", key, "remote", r.RemoteAddr)
		}
		return ans, err
	}
	s.throttle.Succeed(key)
	return ans, nil
}

var errBadCredentials = errs.E(errs.Unauthenticated, "wrong username or password")

func (s *Server) passwordLogin(r *http.Request, username, password string) (tokenAnswer, error) {
	if username == "" || password == "" {
		return tokenAnswer{}, errs.E(errs.Invalid, "username and password are required")
	}
	if len(username) > 100 || len(password) > 256 {
		return tokenAnswer{}, errBadCredentials
	}
	return s.throttled(r, "user:"+strings.ToLower(username), func() (tokenAnswer, error) {
		u, err := s.store.UserByUsername(r.Context(), username)
		if err != nil && !errs.Is(err, errs.NotFound) {
			return tokenAnswer{}, err
		}
		// CheckSecret costs the same whether or not the user exists.
		if !auth.CheckSecret(u.passwordHash, password) || !u.Active || u.IsServiceAccount {
			return tokenAnswer{}, errBadCredentials
		}
		return s.userTokens(u)
	})
}

func (s *Server) userTokens(u User) (tokenAnswer, error) {
	kind := kindUser
	if u.IsServiceAccount {
		kind = kindService
	}
	access, _, err := s.issue(u.ID, kind, s.cfg.AccessTokenTTL, false)
	if err != nil {
		return tokenAnswer{}, err
	}
	ans := tokenAnswer{AccessToken: access, TokenType: "bearer", ExpiresIn: int64(s.cfg.AccessTokenTTL / time.Second)}
	if !u.IsServiceAccount {
		ans.RefreshToken, _, err = s.issue(u.ID, kind, s.cfg.RefreshTokenTTL, true)
	}
	return ans, err
}

// clientLogin serves the client_credentials grant: client_id is a workspace id
// with its enrollment key, or a service account's API key id with the key.
func (s *Server) clientLogin(r *http.Request, id, secret, aud string) (tokenAnswer, error) {
	if id == "" || secret == "" {
		return tokenAnswer{}, errs.E(errs.Invalid, "client_id and client_secret are required")
	}
	if checkID("client_id", id) != nil || len(secret) > 256 {
		return tokenAnswer{}, errs.E(errs.Unauthenticated, "wrong client credentials")
	}
	return s.throttled(r, "client:"+id, func() (tokenAnswer, error) {
		ctx := r.Context()
		if ws, err := s.store.WorkspaceByID(ctx, id); err == nil {
			if !ws.Enrolled || !auth.CheckSecret(ws.keyHash, secret) {
				return tokenAnswer{}, errs.E(errs.Unauthenticated, "wrong client credentials")
			}
			var extra []string
			if aud != "" {
				extra = append(extra, aud)
			}
			tok, _, err := s.issue(ws.ID, kindWorkspace, s.cfg.WorkspaceTokenTTL, false, extra...)
			return tokenAnswer{AccessToken: tok, TokenType: "bearer", ExpiresIn: int64(s.cfg.WorkspaceTokenTTL / time.Second)}, err
		} else if !errs.Is(err, errs.NotFound) {
			return tokenAnswer{}, err
		}
		key, err := s.store.APIKeyByID(ctx, id)
		if err != nil && !errs.Is(err, errs.NotFound) {
			return tokenAnswer{}, err
		}
		if !auth.CheckSecret(key.keyHash, secret) || !key.Active {
			return tokenAnswer{}, errs.E(errs.Unauthenticated, "wrong client credentials")
		}
		u, err := s.store.UserByID(ctx, key.UserID)
		if err != nil || !u.Active {
			return tokenAnswer{}, errs.E(errs.Unauthenticated, "wrong client credentials")
		}
		if err := s.store.TouchAPIKey(ctx, key.ID); err != nil {
			return tokenAnswer{}, err
		}
		return s.userTokens(u)
	})
}

func (s *Server) refreshLogin(r *http.Request, tok string) (tokenAnswer, error) {
	if tok == "" {
		return tokenAnswer{}, errs.E(errs.Invalid, "refresh_token is required")
	}
	claims, err := s.jwks.Verify(tok, auth.Validation{Issuer: s.issuer, Audience: audience, Now: s.cfg.Now})
	if err != nil || !claims.Refresh {
		return tokenAnswer{}, errs.E(errs.Unauthenticated, "invalid refresh token")
	}
	if revoked, err := s.store.IsRevoked(r.Context(), claims.ID); err != nil {
		return tokenAnswer{}, err
	} else if revoked {
		return tokenAnswer{}, errs.E(errs.Unauthenticated, "the refresh token was revoked")
	}
	u, err := s.store.UserByID(r.Context(), claims.Subject)
	if err != nil || !u.Active {
		return tokenAnswer{}, errs.E(errs.Unauthenticated, "invalid refresh token")
	}
	// A refresh token is used once.
	if err := s.store.Revoke(r.Context(), claims.ID, claims.ExpiresAt); err != nil {
		return tokenAnswer{}, err
	}
	return s.userTokens(u)
}

// logout revokes the caller's token (and a refresh token sent with it).
func (s *Server) logout(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.store.Revoke(r.Context(), p.Claims.ID, p.Claims.ExpiresAt); err != nil {
		return err
	}
	if r.Header.Get("Content-Type") != "" && r.ContentLength != 0 {
		form, err := httpapi.DecodeForm(r)
		if err != nil {
			return err
		}
		if rt := form.Get("refresh_token"); rt != "" {
			if c, err := s.jwks.Verify(rt, auth.Validation{Issuer: s.issuer, Audience: audience, Now: s.cfg.Now}); err == nil && c.Subject == p.User.ID {
				if err := s.store.Revoke(r.Context(), c.ID, c.ExpiresAt); err != nil {
					return err
				}
			}
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
	return nil
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, tok string, expiresIn int64) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: tok, Path: "/", MaxAge: int(expiresIn),
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || strings.HasPrefix(s.cfg.ServerURL, "https://"),
	})
}

// jwksHandler publishes the public keys that verify the control plane's
// tokens, so that workspace servers need not call back.
func (s *Server) jwksHandler(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpapi.WriteJSON(w, http.StatusOK, s.jwks)
	return nil
}

// info tells clients and `enclave doctor` what this server is, without a
// login: its version (for skew checks against workspaces) and its URL.
func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{
		"name": "enclave-controlplane", "version": version.Version,
		"server_url": s.cfg.ServerURL, "database_type": s.store.DatabaseType(),
	})
	return nil
}

// currentUser returns the caller.
func (s *Server) currentUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	httpapi.WriteJSON(w, http.StatusOK, p.User)
	return nil
}

// changePassword sets the caller's password after checking the old one.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req struct {
		OldPassword string `json:"old_password"`
		NewPassword string `json:"new_password"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if p.User.IsServiceAccount {
		return errs.E(errs.Forbidden, "service accounts have no password")
	}
	if err := checkPassword(req.NewPassword); err != nil {
		return err
	}
	_, err := s.throttled(r, "user:"+strings.ToLower(p.User.Username), func() (tokenAnswer, error) {
		if !auth.CheckSecret(p.User.passwordHash, req.OldPassword) {
			return tokenAnswer{}, errs.E(errs.Unauthenticated, "the old password is wrong")
		}
		return tokenAnswer{}, nil
	})
	if err != nil {
		if errs.Is(err, errs.Unauthenticated) {
			return errs.E(errs.Forbidden, "the old password is wrong")
		}
		return err
	}
	hash, err := auth.HashSecret(req.NewPassword)
	if err != nil {
		return err
	}
	if err := s.store.SetPassword(r.Context(), p.User.ID, hash); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "password changed"})
	return nil
}
