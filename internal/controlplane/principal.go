package controlplane

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
)

// Token audiences and kinds.
const (
	audience      = "enclave-controlplane"
	kindUser      = "user"
	kindService   = "service_account"
	kindWorkspace = "workspace"
	sessionCookie = "enclave_session"
)

// principal is who is calling: a user, a service account or a workspace.
type principal struct {
	Kind      string
	User      User      // users and service accounts
	Workspace Workspace // workspace servers
	Claims    auth.Claims
}

func (p *principal) isPerson() bool { return p != nil && (p.Kind == kindUser || p.Kind == kindService) }

type principalKey struct{}

func principalFrom(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey{}).(*principal)
	return p
}

// bearer returns the request's token: the Authorization header, else the
// dashboard's session cookie.
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// authenticate attaches the principal of a valid token to the request. It
// never refuses by itself: routes that need a principal say so (requirePerson,
// requireWorkspace), and a bad token on them is a 401.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if tok == "" {
			next.ServeHTTP(w, r)
			return
		}
		p, err := s.principalOf(r.Context(), tok)
		if err != nil {
			ctx := context.WithValue(r.Context(), authErrKey{}, err)
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

type authErrKey struct{}

func (s *Server) principalOf(ctx context.Context, tok string) (*principal, error) {
	claims, err := s.jwks.Verify(tok, auth.Validation{Issuer: s.issuer, Audience: audience, Now: s.cfg.Now})
	if err != nil {
		if errors.Is(err, auth.ErrExpiredToken) {
			return nil, errs.E(errs.Unauthenticated, "the token has expired: log in again")
		}
		return nil, errs.Wrap(errs.Unauthenticated, err, "invalid token")
	}
	if claims.Refresh {
		return nil, errs.E(errs.Unauthenticated, "a refresh token cannot be used as an access token")
	}
	if revoked, err := s.store.IsRevoked(ctx, claims.ID); err != nil {
		return nil, err
	} else if revoked {
		return nil, errs.E(errs.Unauthenticated, "the token was revoked: log in again")
	}
	p := &principal{Kind: claims.Kind, Claims: claims}
	switch claims.Kind {
	case kindUser, kindService:
		u, err := s.store.UserByID(ctx, claims.Subject)
		if err != nil {
			return nil, errs.E(errs.Unauthenticated, "the token's user no longer exists")
		}
		if !u.Active {
			return nil, errs.E(errs.Unauthenticated, "the account is deactivated")
		}
		p.User = u
	case kindWorkspace:
		ws, err := s.store.WorkspaceByID(ctx, claims.Subject)
		if err != nil {
			return nil, errs.E(errs.Unauthenticated, "the token's workspace no longer exists")
		}
		p.Workspace = ws
	default:
		return nil, errs.E(errs.Unauthenticated, "invalid token")
	}
	return p, nil
}

// needAuth returns the reason the request has no principal.
func needAuth(r *http.Request) error {
	if err, ok := r.Context().Value(authErrKey{}).(error); ok {
		return err
	}
	return errs.E(errs.Unauthenticated, "authentication required: send a bearer token")
}

// personHandler is a handler for users and service accounts.
type personHandler func(w http.ResponseWriter, r *http.Request, p *principal) error

// requirePerson admits users and service accounts, not workspace servers.
func requirePerson(h personHandler) http.Handler {
	return httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		if p == nil {
			return needAuth(r)
		}
		if !p.isPerson() {
			return errs.E(errs.Forbidden, "workspace servers may not call this endpoint")
		}
		return h(w, r, p)
	})
}

// requireWorkspace admits only enrolled workspace servers.
func requireWorkspace(h personHandler) http.Handler {
	return httpapi.Handle(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		if p == nil {
			return needAuth(r)
		}
		if p.Kind != kindWorkspace {
			return errs.E(errs.Forbidden, "only workspace servers may call this endpoint")
		}
		return h(w, r, p)
	})
}

// issue signs a token for subject of kind.
func (s *Server) issue(subject, kind string, ttl time.Duration, refresh bool, aud ...string) (string, int64, error) {
	now := s.cfg.Now()
	exp := now.Add(ttl).Unix()
	tok, err := s.key.Sign(auth.Claims{
		Issuer: s.issuer, Subject: subject, Audience: append([]string{audience}, aud...),
		IssuedAt: now.Unix(), NotBefore: now.Add(-time.Minute).Unix(), ExpiresAt: exp,
		ID: auth.NewID(), Kind: kind, Refresh: refresh,
	})
	return tok, exp, err
}
