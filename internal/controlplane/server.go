// Package controlplane is Enclave's control plane: users, organizations,
// teams, roles, workspaces and their enrollment, the tokens that workspace
// servers trust, and the RBAC decisions they ask for. It meets workspace
// servers only on the wire.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
)

// Server is a running control plane.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    *Store
	key      auth.KeyPair
	jwks     auth.JWKS
	issuer   string
	throttle *auth.Throttle
	handler  http.Handler
	// extra lets a caller (the dashboard) mount more routes on the same mux.
	mux *http.ServeMux
}

// New opens the store, migrates it, makes sure the admin exists and builds
// the route table.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	store, err := OpenStore(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return nil, err
	}
	s, err := newServer(ctx, cfg, log, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	return s, nil
}

func newServer(ctx context.Context, cfg Config, log *slog.Logger, store *Store) (*Server, error) {
	key, err := store.SigningKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	s := &Server{
		cfg: cfg, log: log, store: store, key: key,
		jwks:     auth.JWKS{Keys: []auth.JWK{key.Public()}},
		issuer:   cfg.ServerURL,
		throttle: auth.NewThrottle(),
	}
	if s.issuer == "" {
		s.issuer = "enclave-controlplane"
	}
	if err := s.ensureAdmin(ctx); err != nil {
		return nil, err
	}
	s.mux = http.NewServeMux()
	s.routes(s.mux)
	s.handler = httpapi.Chain(s.mux,
		httpapi.WithRequest(log),
		httpapi.Recover,
		httpapi.AccessLog,
		httpapi.SecurityHeaders,
		httpapi.LimitBody(httpapi.MaxBody),
		s.authenticate,
	)
	return s, nil
}

// ensureAdmin creates the configured admin on first start, and keeps its
// password equal to the configured one afterwards.
func (s *Server) ensureAdmin(ctx context.Context) error {
	u, err := s.store.UserByUsername(ctx, s.cfg.AdminUsername)
	switch {
	case err == nil:
		if !u.IsSuperuser || !u.Active {
			return fmt.Errorf("user %q exists but is not an active administrator", u.Username)
		}
		if s.cfg.AdminPassword != "" && !auth.CheckSecret(u.passwordHash, s.cfg.AdminPassword) {
			hash, err := auth.HashSecret(s.cfg.AdminPassword)
			if err != nil {
				return err
			}
			s.log.Info("admin password changed by configuration", "username", u.Username)
			return s.store.SetPassword(ctx, u.ID, hash)
		}
		return nil
	case !errs.Is(err, errs.NotFound):
		return err
	}
	password := s.cfg.AdminPassword
	if password == "" {
		password = auth.RandomSecret(18)
		s.log.Warn("no admin password configured: generated one; set ENCLAVE_ADMIN_PASSWORD to choose it",
			"username", s.cfg.AdminUsername, "password", password)
	}
	hash, err := auth.HashSecret(password)
	if err != nil {
		return err
	}
	admin := User{Username: s.cfg.AdminUsername, Name: "Administrator", IsSuperuser: true, Active: true}
	if err := s.store.CreateUser(ctx, &admin, hash); err != nil && !errs.Is(err, errs.Conflict) {
		return err
	}
	s.log.Info("created the admin user", "username", admin.Username)
	return nil
}

// Handler serves the control plane's HTTP API.
func (s *Server) Handler() http.Handler { return s.handler }

// Mount adds a handler for pattern to the control plane's route table; the
// dashboard uses it to live on the same origin as the API.
func (s *Server) Mount(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Store exposes the store to the dashboard that shares this process.
func (s *Server) Store() *Store { return s.store }

// Run serves on ln until ctx ends.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	s.log.Info("control plane listening", "addr", ln.Addr().String(), "database", s.store.DatabaseType())
	err := httpapi.Serve(ctx, ln, s.handler, s.log)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close releases the database.
func (s *Server) Close() error { return s.store.Close() }
