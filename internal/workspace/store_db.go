package workspace

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"

	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// storeDB is the store's database with its statements prepared once and
// reused. SQLite's driver otherwise parses every query anew, which was a
// third of a GET's time, and MySQL's sends prepare, execute and close for
// each. PostgreSQL's driver already keeps prepared statements per
// connection, so there it passes through. Transactions go through the
// embedded sqldb.DB unprepared: they are the rarer writes.
type storeDB struct {
	*sqldb.DB
	prepare bool
	stmts   sync.Map // rebound query text → *sql.Stmt
	n       atomic.Int32
}

// Limits of the statement cache. Each statement costs memory on every
// connection that ran it; texts of long IN lists are not worth keeping.
const (
	maxStmts    = 256
	maxStmtArgs = 130
)

func newStoreDB(db *sqldb.DB) *storeDB {
	return &storeDB{DB: db, prepare: db.Dialect() != sqldb.Postgres}
}

// stmt returns the prepared statement of q, preparing it on first use, or
// nil when q is not to be kept.
func (d *storeDB) stmt(ctx context.Context, q string, nargs int) *sql.Stmt {
	if !d.prepare || nargs > maxStmtArgs {
		return nil
	}
	text := sqldb.Rebind(d.Dialect(), q)
	if st, ok := d.stmts.Load(text); ok {
		return st.(*sql.Stmt)
	}
	if d.n.Load() >= maxStmts {
		return nil
	}
	st, err := d.SQL().PrepareContext(ctx, text)
	if err != nil {
		return nil // the unprepared query will report the error
	}
	if prev, loaded := d.stmts.LoadOrStore(text, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	d.n.Add(1)
	return st
}

func (d *storeDB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := d.stmt(ctx, q, len(args)); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.Query(ctx, q, args...)
}

func (d *storeDB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := d.stmt(ctx, q, len(args)); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRow(ctx, q, args...)
}

func (d *storeDB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := d.stmt(ctx, q, len(args)); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return d.DB.Exec(ctx, q, args...)
}
