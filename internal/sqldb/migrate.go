package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
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
	for _, m := range migs[current:] {
		log.Info("applying migration", "table", versionTable, "version", m.Version, "name", m.Name)
		if err := db.apply(ctx, conn, versionTable, m); err != nil {
			return applied, fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
		}
		applied++
	}
	if db.dialect == MySQL {
		old, err := tablesNotInCharset(ctx, conn, append(createdTables(migs, MySQL), versionTable))
		if err != nil {
			return applied, err
		}
		if len(old) > 0 {
			log.Warn("tables made before Enclave chose their character set are not in utf8mb4 with utf8mb4_bin: "+
				"names the table's character set lacks are refused, and names may compare without case; "+
				"back up with `enclave backup` and restore into a new database with `enclave restore` to convert them",
				"tables", strings.Join(old, ", "))
		}
	}
	return applied, nil
}

var createTableRE = regexp.MustCompile(`(?i)CREATE TABLE (?:IF NOT EXISTS )?(\w+)`)

// createdTables is the tables migs create in dialect d.
func createdTables(migs []Migration, d Dialect) []string {
	var names []string
	for _, m := range migs {
		text := m.SQL
		if alt, ok := m.Dialects[d]; ok {
			text = alt
		}
		for _, sub := range createTableRE.FindAllStringSubmatch(text, -1) {
			names = append(names, sub[1])
		}
	}
	return names
}

// tablesNotInCharset returns those of the tables, in the connection's
// database, whose default collation is not that of mysqlTableCharset.
func tablesNotInCharset(ctx context.Context, conn *sql.Conn, tables []string) ([]string, error) {
	args := make([]any, len(tables))
	for i, t := range tables {
		args[i] = t
	}
	rows, err := conn.QueryContext(ctx, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "+
		"AND TABLE_COLLATION <> 'utf8mb4_bin' AND TABLE_NAME IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(tables)), ", ")+") ORDER BY TABLE_NAME", args...)
	if err != nil {
		return nil, fmt.Errorf("read the tables' character sets: %w", err)
	}
	defer rows.Close()
	var old []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		old = append(old, name)
	}
	return old, rows.Err()
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

// mysqlTableCharset is how every table is created on MySQL: in utf8mb4, so
// that any name fits whatever the server's default (MariaDB's own is
// latin1, which refuses a name in Chinese or an emoji), and compared byte
// for byte, as SQLite and PostgreSQL compare them, whatever collation the
// server prefers (MySQL's utf8mb4_0900_ai_ci would make "Café" and "cafe"
// the same name). The connection uses the same collation (url.go).
const mysqlTableCharset = " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

// withTableCharset adds mysqlTableCharset to a CREATE TABLE statement that
// sets no character set itself.
func withTableCharset(stmt string) string {
	if !strings.HasPrefix(strings.ToUpper(stmt), "CREATE TABLE") || strings.Contains(strings.ToUpper(stmt), "CHARSET") {
		return stmt
	}
	return stmt + mysqlTableCharset
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
