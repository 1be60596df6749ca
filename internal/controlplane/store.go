package controlplane

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// Store is the control plane's storage: hand-written SQL over one of the
// three dialects. Every method takes a context first; a missing row is an
// errs.NotFound error, a duplicate an errs.Conflict, never (nil, nil).
type Store struct {
	db *sqldb.DB
}

// OpenStore opens the database at url and brings its schema up to date.
func OpenStore(ctx context.Context, url string, log *slog.Logger) (*Store, error) {
	db, err := sqldb.Open(ctx, url, sqldb.Options{})
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx, versionTable, migrations, log); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DatabaseType names the dialect, for status reports.
func (s *Store) DatabaseType() string { return s.db.Dialect().String() }

// Migrate runs the control plane's migrations on url and returns how many ran.
func Migrate(ctx context.Context, url string, log *slog.Logger) (int, error) {
	db, err := sqldb.Open(ctx, url, sqldb.Options{MaxOpen: 2})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return db.Migrate(ctx, versionTable, migrations, log)
}

func newID() string { return uuid.NewString() }

// conflict turns a unique violation into a Conflict error with msg.
func conflict(err error, format string, args ...any) error {
	if sqldb.IsUniqueViolation(err) {
		return errs.E(errs.Conflict, format, args...)
	}
	return err
}

func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errs.E(errs.NotFound, format, args...)
	}
	return err
}

// SigningKey returns the key that signs tokens, making it on first use. The
// key lives in the database so that every replica signs with the same one.
func (s *Store) SigningKey(ctx context.Context) (auth.KeyPair, error) {
	for attempt := 0; attempt < 2; attempt++ {
		var seed string
		err := s.db.QueryRow(ctx, "SELECT seed FROM cp_signing_keys ORDER BY created DESC, id LIMIT 1").Scan(&seed)
		if err == nil {
			raw, err := base64.StdEncoding.DecodeString(seed)
			if err != nil {
				return auth.KeyPair{}, fmt.Errorf("stored signing key: %w", err)
			}
			return auth.KeyPairFromSeed(raw)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return auth.KeyPair{}, err
		}
		k, err := auth.NewKeyPair()
		if err != nil {
			return auth.KeyPair{}, err
		}
		_, err = s.db.Exec(ctx, "INSERT INTO cp_signing_keys (id, seed, created) VALUES (?, ?, ?)",
			k.ID, base64.StdEncoding.EncodeToString(k.Private.Seed()), sqldb.Now())
		if err != nil && !sqldb.IsUniqueViolation(err) {
			return auth.KeyPair{}, err
		}
		// Read back: another replica may have inserted first.
	}
	return auth.KeyPair{}, errors.New("could not create a signing key")
}

// Revoke records that the token with id jti may no longer be used.
func (s *Store) Revoke(ctx context.Context, jti string, expires int64) error {
	_, err := s.db.Exec(ctx, "INSERT INTO cp_revoked_tokens (jti, expires) VALUES (?, ?)", jti, expires)
	if err != nil && !sqldb.IsUniqueViolation(err) {
		return err
	}
	_, err = s.db.Exec(ctx, "DELETE FROM cp_revoked_tokens WHERE expires < ?", sqldb.Now()/1e6-3600)
	return err
}

// IsRevoked reports whether the token with id jti was revoked.
func (s *Store) IsRevoked(ctx context.Context, jti string) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM cp_revoked_tokens WHERE jti = ?", jti).Scan(&n)
	return n > 0, err
}

// scanner is what *sql.Row and *sql.Rows share.
type scanner interface{ Scan(dest ...any) error }
