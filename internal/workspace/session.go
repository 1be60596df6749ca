package workspace

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/version"
)

// principal is who a request acts for.
type principal struct {
	UserID         string // local user id
	Name           string
	ExternalID     string // the control plane's user id (pro mode)
	Admin          bool
	ServiceAccount bool
	RunScope       string // the run a run-scoped token was made for, else ""
}

type authedFunc func(w http.ResponseWriter, r *http.Request, p *principal) error

// Session lifetimes: a login by a person lasts a working day; one by an
// API key an hour, after which the key is shown again.
const (
	sessionTTL = 24 * time.Hour
	apiKeyTTL  = time.Hour
)

func (s *Server) authed(h authedFunc) http.Handler {
	return httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.authenticate(r)
		if err != nil {
			return err
		}
		return h(w, r, p)
	})
}

func (s *Server) cookieName() string { return "zenml-server-" + s.serverID }

// authenticate checks the bearer token or the session cookie.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	tok := bearer(r)
	if tok == "" {
		if c, err := r.Cookie(s.cookieName()); err == nil {
			tok = c.Value
		}
	}
	if tok == "" {
		return nil, errs.E(errs.Unauthenticated, "authentication required: send a bearer token or log in")
	}
	now := time.Now()
	ct, ok := s.tokens.get(tok, now)
	if !ok {
		const leeway = 30 * time.Second
		claims, err := s.signer.Verify(tok, auth.Validation{Issuer: s.serverID, Audience: s.serverID, Leeway: leeway})
		if err != nil {
			if errors.Is(err, auth.ErrExpiredToken) {
				return nil, errs.E(errs.Unauthenticated, "the session has expired: log in again")
			}
			return nil, errs.E(errs.Unauthenticated, "the token is not valid for this server")
		}
		ct = cachedToken{subject: claims.Subject, kind: claims.Kind, scope: claims.Scope}
		if claims.ExpiresAt > 0 {
			s.tokens.put(tok, ct, now, time.Unix(claims.ExpiresAt, 0).Add(leeway))
		}
	}
	p, err := s.sessionUser(r.Context(), ct.subject)
	if err != nil {
		return nil, err
	}
	if ct.kind == runTokenKind {
		if err := s.checkRunToken(r, ct.scope); err != nil {
			return nil, err
		}
		p.RunScope = strings.ToLower(ct.scope)
	}
	return p, nil
}

// sessionUser returns the principal of an active user, from the store or,
// within sessionUserTTL of the last read, from memory.
func (s *Server) sessionUser(ctx context.Context, id string) (*principal, error) {
	now := time.Now()
	c := s.store.users
	p, ok, gen := c.get(id, now)
	if ok {
		return &p, nil
	}
	u, err := s.store.User(ctx, id, true)
	if err != nil || !u.Body.Active {
		return nil, errs.E(errs.Unauthenticated, "the account of this token is gone or inactive")
	}
	p = principal{UserID: u.ID, Name: u.Name, Admin: u.Body.IsAdmin, ServiceAccount: u.Body.IsServiceAccount}
	if u.Metadata.ExternalUserID != nil {
		p.ExternalID = *u.Metadata.ExternalUserID
	}
	c.put(p, gen, now)
	return &p, nil
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// login is POST /api/v1/login, form-encoded: grant_type password (or empty)
// with username and password; zenml-external with the control plane's token
// in Authorization (pro mode); zenml-api-key with the key in password.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	form, err := httpapi.DecodeForm(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var u client.User
	ttl := sessionTTL
	switch grant := form.Get("grant_type"); grant {
	case "", "password":
		if s.pro != nil {
			return errs.E(errs.Unauthenticated, "password login is off in pro mode: log in through the control plane")
		}
		name := form.Get("username")
		if name == "" || len(name) > 255 || len(form.Get("password")) > 1024 {
			return errs.E(errs.Invalid, "username and password are required")
		}
		if u, err = s.throttled(ctx, "user:"+name, func() (client.User, error) { return s.store.CheckPassword(ctx, name, form.Get("password")) }); err != nil {
			return err
		}
	case "zenml-api-key":
		key := form.Get("password")
		if key == "" {
			return errs.E(errs.Invalid, "the API key goes in the password field")
		}
		if u, err = s.throttled(ctx, "apikey:"+keyID(key), func() (client.User, error) { return s.store.CheckAPIKey(ctx, key) }); err != nil {
			return err
		}
		ttl = apiKeyTTL
	case "zenml-external":
		if s.pro == nil {
			return errs.E(errs.Invalid, "grant_type zenml-external needs pro mode (ZENML_SERVER_DEPLOYMENT_TYPE=cloud)")
		}
		tok := bearer(r)
		if tok == "" {
			return errs.E(errs.Unauthenticated, "zenml-external login needs the control plane's token in Authorization: Bearer")
		}
		cu, err := s.pro.authorizeServer(ctx, tok)
		if err != nil {
			return err
		}
		if u, err = s.store.UpsertExternalUser(ctx, cu); err != nil {
			return err
		}
	default:
		return errs.E(errs.Invalid, "grant_type %q is not supported (password, zenml-api-key or zenml-external)", grant)
	}
	return s.issue(ctx, w, u, ttl)
}

// throttled runs a credential check under the login throttle for key.
func (s *Server) throttled(ctx context.Context, key string, check func() (client.User, error)) (client.User, error) {
	ok, wait, retry := s.throttle.Check(key)
	if !ok {
		return client.User{}, errs.E(errs.TooMany, "too many failed logins: try again in %s", retry.Round(time.Second))
	}
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return client.User{}, ctx.Err()
		}
	}
	u, err := check()
	if errs.Is(err, errs.Unauthenticated) {
		s.throttle.Fail(key)
	} else if err == nil {
		s.throttle.Succeed(key)
	}
	return u, err
}

func keyID(key string) string {
	if id, _, ok := decodeAPIKey(key); ok {
		return id
	}
	return "malformed"
}

// sessionToken signs a session of the user userID for ttl.
func (s *Server) sessionToken(userID string, serviceAccount bool, ttl time.Duration) (string, error) {
	kind := "user"
	if serviceAccount {
		kind = "service_account"
	}
	now := time.Now()
	return s.signer.Sign(auth.Claims{Issuer: s.serverID, Audience: []string{s.serverID}, Subject: userID,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(ttl).Unix(), ID: auth.NewID(), Kind: kind})
}

// issue signs a session for u and sets it as a cookie too, and records the
// login as the server's last user activity (GET /settings).
func (s *Server) issue(ctx context.Context, w http.ResponseWriter, u client.User, ttl time.Duration) error {
	tok, err := s.sessionToken(u.ID, u.Body.IsServiceAccount, ttl)
	if err != nil {
		return err
	}
	if err := s.store.noteLogin(ctx); err != nil {
		s.log.Warn("record the last user activity", "err", err)
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(s.cfg.ServerURL, "https://"), MaxAge: int(ttl.Seconds())})
	httpapi.WriteJSON(w, http.StatusOK, client.TokenResponse{AccessToken: tok, TokenType: "bearer", ExpiresIn: int64(ttl.Seconds())})
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(s.cfg.ServerURL, "https://"), MaxAge: -1})
	httpapi.WriteJSON(w, http.StatusOK, nil)
	return nil
}

func (s *Server) currentUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, err := s.store.User(r.Context(), p.UserID, true)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, u)
	return nil
}

// info is GET /api/v1/info, open to all: what clients need before login.
func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	if err := httpapi.QueryOnly(r.URL.Query()); err != nil {
		return err
	}
	dt := s.cfg.DeploymentType
	if dt == "" {
		dt = "other"
	}
	in := client.ServerInfo{ID: s.serverID, Name: s.serverName(r.Context()), Version: version.Version, Active: true,
		DeploymentType: dt, DatabaseType: s.db.Dialect().String(), SecretsStoreType: s.cfg.SecretsStoreType,
		AuthScheme: "OAUTH2_PASSWORD_BEARER", ServerURL: s.cfg.ServerURL, DashboardURL: s.cfg.ServerURL, Metadata: map[string]any{}}
	if s.cfg.ProMode() {
		p := s.cfg.Pro
		in.AuthScheme = "EXTERNAL"
		in.DashboardURL = p.DashboardURL
		in.ProAPIURL, in.ProDashboardURL = p.APIURL, p.DashboardURL
		in.ProOrganizationID, in.ProOrganizationName = p.OrganizationID, p.OrganizationName
		in.ProWorkspaceID, in.ProWorkspaceName = p.WorkspaceID, p.WorkspaceName
	}
	httpapi.WriteJSON(w, http.StatusOK, in)
	return nil
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	httpapi.WriteJSON(w, http.StatusOK, version.Version)
	return nil
}

func userRequest(name, password string, admin bool) client.UserRequest {
	return client.UserRequest{Name: name, Password: password, IsAdmin: admin}
}
