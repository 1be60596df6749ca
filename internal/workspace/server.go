// Package workspace is the workspace server: the ML metadata API (projects,
// stacks, pipelines, snapshots, runs, steps, artifacts, models, secrets,
// logs, tags), its store on SQLite, PostgreSQL or MySQL, and its side of the
// pro protocol — enrollment with the control plane, user login through it,
// and permission checks against it behind a short-lived cache. It meets the
// control plane only on the wire.
package workspace

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// Server is a running workspace server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	db       *sqldb.DB
	store    *Store
	signer   *auth.HMACSigner
	serverID string
	authz    authorizer
	pro      *proClient // nil in standalone mode
	throttle *auth.Throttle
	tokens   *tokenCache // session tokens whose signature was checked, briefly
	logs     *logFiles
	handler  http.Handler
	idle     *httpapi.IdleRelease

	workloads *workloads // nil unless a workload manager is configured
	started   int64      // when New ran, in microseconds
}

// New opens the store, migrates it (backing it up first), and readies the
// server. It validates cfg for serving.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.ValidateServe(); err != nil {
		return nil, err
	}
	db, err := open(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	s, err := newServer(ctx, cfg, db, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func newServer(ctx context.Context, cfg Config, db *sqldb.DB, log *slog.Logger) (*Server, error) {
	var box *secretBox
	if cfg.SecretsStoreType == "sql" {
		var err error
		if box, err = newSecretBox(cfg.EncryptionKey); err != nil {
			return nil, err
		}
	}
	s := &Server{cfg: cfg, log: log, db: db, store: NewStore(db, box), throttle: auth.NewThrottle(), tokens: newTokenCache(sessionUserTTL),
		logs: &logFiles{dir: filepath.Join(cfg.DataDir, "logs")}, started: sqldb.Now()}
	s.store.log = log
	if err := s.store.EnsureDefaults(ctx, cfg.DataDir); err != nil {
		return nil, fmt.Errorf("create defaults: %w", err)
	}
	if err := s.store.findSubstringIndexes(ctx); err != nil {
		return nil, err
	}
	key := cfg.JWTSecretKey
	if key == "" {
		var err error
		if key, err = s.store.SettingOrInit(ctx, "jwt_secret_key", func() string { return auth.RandomSecret(48) }); err != nil {
			return nil, err
		}
	}
	signer, err := auth.NewHMACSigner([]byte(key))
	if err != nil {
		return nil, err
	}
	s.signer = signer
	if cfg.ProMode() {
		s.serverID = cfg.Pro.WorkspaceID
		s.pro = newProClient(cfg, log)
		s.authz = newProAuthorizer(s.pro, cfg.RBACCacheTTL, log)
	} else {
		if s.serverID, err = s.store.SettingOrInit(ctx, "server_id", newID); err != nil {
			return nil, err
		}
		s.authz = standaloneAuthorizer{}
		if err := s.ensureAdmin(ctx); err != nil {
			return nil, err
		}
	}
	if s.workloads, err = newWorkloads(s); err != nil {
		return nil, err
	}
	s.idle = httpapi.NewIdleRelease(db.ReleaseIdle, s.store.releaseCaches)
	s.handler = s.middleware(s.routes())
	return s, nil
}

// open connects to the store and migrates it.
func open(ctx context.Context, cfg Config, log *slog.Logger) (*sqldb.DB, error) {
	if pc, err := sqldb.ParseURL(cfg.StoreURL); err == nil && pc.Dialect == sqldb.SQLite && pc.Path != "" {
		if err := os.MkdirAll(filepath.Dir(pc.Path), 0o750); err != nil {
			return nil, err
		}
	}
	db, err := sqldb.Open(ctx, cfg.StoreURL, sqldb.Options{MaxOpen: cfg.PoolSize})
	if err != nil {
		return nil, err
	}
	log.Info("store connections", "dialect", db.Dialect().String(), "max_open", db.SQL().Stats().MaxOpenConnections,
		"database_on_this_machine", db.Config().OnThisMachine())
	dir := cfg.BackupDir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "backups")
	}
	if err := migrateWithBackup(ctx, db, migrations, cfg.BackupStrategy, dir, log); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate the workspace store: %w", err)
	}
	return db, nil
}

// Migrate brings the store at cfg.StoreURL to the newest schema, with the
// configured backup first: `enclave migrate workspace`.
func Migrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	db, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	return db.Close()
}

// ensureAdmin creates the first admin of a standalone server with no users.
// Without ZENML_DEFAULT_USER_PASSWORD a random password is made and written
// to a file only its owner can read, never to the log.
func (s *Server) ensureAdmin(ctx context.Context) error {
	n, err := s.store.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	pw := s.cfg.DefaultUserPassword
	if pw == "" {
		pw = auth.RandomSecret(18)
		if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
			return err
		}
		path := filepath.Join(s.cfg.DataDir, "initial-admin-password")
		if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
			return err
		}
		s.log.Warn("created the first admin with a random password", "user", s.cfg.DefaultUserName, "password_file", path)
	}
	_, err = s.store.CreateUser(ctx, userRequest(s.cfg.DefaultUserName, pw, true), false, "")
	return err
}

// Handler is the server's HTTP handler, with its middleware.
func (s *Server) Handler() http.Handler { return s.handler }

// Store gives tests and tools in this package's module the store.
func (s *Server) Store() *Store { return s.store }

// ServerID is the id the server signs its tokens for (the workspace id in
// pro mode).
func (s *Server) ServerID() string { return s.serverID }

// Run serves on ln until ctx ends; in pro mode it also keeps the control
// plane's token fresh and reports the server's status.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if s.pro != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.pro.loop(ctx, s.status)
		}()
	}
	serveCtx := ctx
	if wl := s.workloads; wl != nil && wl.local != nil {
		// Local runners are interrupted when ctx ends, and record how
		// their runs ended through this server: it serves until they have
		// ended.
		wl.local.bind(ctx)
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		defer stop()
		wg.Go(func() {
			<-ctx.Done()
			wl.local.wait()
			stop()
		})
		serveCtx = sctx
	} else if wl != nil {
		wg.Go(func() { s.watchWorkloads(ctx) })
	}
	wg.Go(func() { s.idle.Watch(ctx, idleRelease) })
	wg.Go(func() { s.store.watchRunChanges(ctx, s.log) })
	s.log.Info("workspace server listening", "addr", ln.Addr().String(), "pro", s.cfg.ProMode(), "database", s.db.Dialect().String())
	err := httpapi.Serve(serveCtx, ln, s.handler, s.log)
	cancel()
	wg.Wait()
	return err
}

// idleRelease is how long without requests after a busy spell before the
// server hands its spare memory back (see httpapi.IdleRelease).
const idleRelease = time.Second

// Close closes the store.
func (s *Server) Close() error { return s.db.Close() }
