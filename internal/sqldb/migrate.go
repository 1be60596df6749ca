package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
)

// Migration is one forward-only schema step. SQL holds statements separated
// by ";\n" in the portable subset; where a dialect needs its own text,
// Dialects overrides it. The token BLOBTEXT stands for a long text column
// (TEXT, or LONGTEXT on MySQL whose TEXT stops at 64 KiB).
type Migration struct {
	Version  int
	Name     string
	SQL      string
	Dialects map[Dialect]string
}

// Migrate brings the schema tracked in versionTable up to the newest of migs.
// Each step runs in its own transaction where the database allows DDL in one
// (SQLite and PostgreSQL; MySQL commits DDL implicitly), and a database lock
// keeps two servers starting at once from running the same step twice.
func (db *DB) Migrate(ctx context.Context, versionTable string, migs []Migration, log *slog.Logger) (applied int, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for i, m := range migs {
		if m.Version != i+1 {
			return 0, fmt.Errorf("migration %q has version %d, want %d", m.Name, m.Version, i+1)
		}
	}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	unlock, err := db.lock(ctx, conn, versionTable)
	if err != nil {
		return 0, err
	}
	defer unlock()

	create := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (version INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL, applied_at BIGINT NOT NULL)", versionTable)
	if db.dialect == MySQL {
		create = withTableCharset(create)
	}
	if _, err := conn.ExecContext(ctx, create); err != nil {
		return 0, fmt.Errorf("create %s: %w", versionTable, err)
	}
	current, err := db.currentVersion(ctx, conn, versionTable)
	if err != nil {
		return 0, err
	}
	if current > len(migs) {
		return 0, fmt.Errorf("the database schema is at version %d, newer than this binary knows (%d): refusing to run an older Enclave against it", current, len(migs))
	}
	if db.dialect == MySQL {
		// Before any step: a step's foreign key to a table in another
		// character set could not be made.
		if err := convertTables(ctx, conn, versionTable, append(createdTables(migs, MySQL), versionTable), log); err != nil {
			return 0, err
		}
	}
	for _, m := range migs[current:] {
		log.Info("applying migration", "table", versionTable, "version", m.Version, "name", m.Name)
		if err := db.apply(ctx, conn, versionTable, m); err != nil {
			return applied, fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
		}
		applied++
	}
	return applied, nil
}

// Version returns the schema version recorded in versionTable (0 when none).
func (db *DB) Version(ctx context.Context, versionTable string) (int, error) {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return db.currentVersion(ctx, conn, versionTable)
}

func (db *DB) currentVersion(ctx context.Context, conn *sql.Conn, table string) (int, error) {
	var v sql.NullInt64
	err := conn.QueryRowContext(ctx, "SELECT MAX(version) FROM "+table).Scan(&v)
	if err != nil {
		if isMissingTable(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}

func isMissingTable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "no such table") || strings.Contains(s, "does not exist") || strings.Contains(s, "doesn't exist")
}

func (db *DB) apply(ctx context.Context, conn *sql.Conn, table string, m Migration) error {
	text := m.SQL
	if alt, ok := m.Dialects[db.dialect]; ok {
		text = alt
	}
	long := "TEXT"
	if db.dialect == MySQL {
		long = "LONGTEXT"
	}
	text = strings.ReplaceAll(text, "BLOBTEXT", long)
	stmts := splitStatements(text)
	if db.dialect == MySQL {
		for i, s := range stmts {
			stmts[i] = withTableCharset(s)
		}
	}

	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	// Another process may have applied this step while we waited for the
	// write lock (SQLite takes no lock before the transaction).
	var done int
	if err := tx.QueryRowContext(ctx, Rebind(db.dialect, "SELECT COUNT(*) FROM "+table+" WHERE version = ?"), m.Version).Scan(&done); err != nil {
		_ = tx.Rollback()
		return err
	}
	if done > 0 {
		return tx.Rollback()
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("%w\n  in: %s", err, s)
		}
	}
	ins := Rebind(db.dialect, "INSERT INTO "+table+" (version, name, applied_at) VALUES (?, ?, ?)")
	if _, err := tx.ExecContext(ctx, ins, m.Version, m.Name, Now()); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func splitStatements(text string) []string {
	var out []string
	for _, s := range strings.Split(text, ";\n") {
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";"))
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// lock takes a database-wide lock named after the version table so that only
// one process migrates at a time. SQLite needs none: a migration transaction
// takes the write lock, and the version is read again under it.
func (db *DB) lock(ctx context.Context, conn *sql.Conn, name string) (func(), error) {
	h := fnv.New64a()
	h.Write([]byte("enclave-migrate-" + name))
	key := int64(h.Sum64() >> 1)
	switch db.dialect {
	case Postgres:
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
			return nil, fmt.Errorf("take migration lock: %w", err)
		}
		return func() { _, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", key) }, nil
	case MySQL:
		var got sql.NullInt64
		lockName := "enclave-migrate-" + name
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 300)", lockName).Scan(&got); err != nil {
			return nil, fmt.Errorf("take migration lock: %w", err)
		}
		if got.Int64 != 1 {
			return nil, errors.New("take migration lock: timed out waiting for another migration")
		}
		return func() { _, _ = conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK(?)", lockName) }, nil
	}
	return func() {}, nil
}
