package workspace

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
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

// storeTx is a transaction that runs the store's prepared statements on its
// connection rather than parsing each query anew. A statement not yet
// prepared runs unprepared and is prepared after the transaction ends: the
// pool may have no other connection to prepare it on meanwhile.
type storeTx struct {
	d       *storeDB
	tx      *sql.Tx
	missing []string
}

// inTx runs fn in a transaction, committing when it returns nil and rolling
// back otherwise, like sqldb.DB.InTx.
func (d *storeDB) inTx(ctx context.Context, fn func(tx *storeTx) error) error {
	defer d.LockWrites(ctx)()
	stx, err := d.SQL().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t := &storeTx{d: d, tx: stx}
	err = fn(t)
	if err != nil {
		_ = stx.Rollback()
	} else if err = stx.Commit(); err != nil {
		err = fmt.Errorf("commit: %w", err)
	}
	for _, q := range t.missing {
		d.stmt(ctx, q, 0)
	}
	return err
}

func (t *storeTx) Dialect() sqldb.Dialect { return t.d.Dialect() }

func (t *storeTx) stmt(ctx context.Context, q string, nargs int) *sql.Stmt {
	if !t.d.prepare || nargs > maxStmtArgs {
		return nil
	}
	if st, ok := t.d.stmts.Load(sqldb.Rebind(t.d.Dialect(), q)); ok {
		return t.tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	t.missing = append(t.missing, q)
	return nil
}

func (t *storeTx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, q, len(args)); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, sqldb.Rebind(t.d.Dialect(), q), args...)
}

func (t *storeTx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, q, len(args)); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, sqldb.Rebind(t.d.Dialect(), q), args...)
}

func (t *storeTx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.stmt(ctx, q, len(args)); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, sqldb.Rebind(t.d.Dialect(), q), args...)
}

// execOnce runs a statement whose text varies with its arguments (a
// multi-row INSERT) without keeping it prepared.
func (t *storeTx) execOnce(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, sqldb.Rebind(t.d.Dialect(), q), args...)
}

// queryOnce is execOnce's query.
func (t *storeTx) queryOnce(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, sqldb.Rebind(t.d.Dialect(), q), args...)
}

// maxInArgs bounds the placeholders of one statement, well under every
// dialect's limit.
const maxInArgs = 500

// rowMarks is the VALUES list of n rows of width placeholders.
func rowMarks(width, n int) string {
	row := "(" + placeholders(width) + ")"
	return strings.Repeat(row+", ", n-1) + row
}

// insertRows inserts rows of width values each, given flat in args, with
// as few statements as the limit on placeholders allows; on SQLite, which
// makes a multi-row VALUES list a subquery and has no round trips to save,
// with one prepared statement per row (a quarter faster for a group of
// steps). Statements of up to keptRows rows stay prepared (a step's few
// parents); longer ones, whose texts vary more, are parsed each time.
func (t *storeTx) insertRows(ctx context.Context, insert string, width int, args []any) error {
	rows := maxInArgs / width
	if t.Dialect() == sqldb.SQLite {
		rows = 1
	}
	for part := range slices.Chunk(args, rows*width) {
		q, exec := insert+rowMarks(width, len(part)/width), t.execOnce
		if len(part) <= keptRows*width {
			exec = t.Exec
		}
		if _, err := exec(ctx, q, part...); err != nil {
			return err
		}
	}
	return nil
}

// keptRows is the longest multi-row INSERT kept prepared.
const keptRows = 4

// pairsByID runs query, which selects an id and one text and ends in
// "WHERE id IN ", for ids, and maps the ids found to their text.
func (t *storeTx) pairsByID(ctx context.Context, query string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for part := range slices.Chunk(ids, maxInArgs) {
		rows, err := t.queryOnce(ctx, query+"("+placeholders(len(part))+")", strArgs(part)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, v string
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = v
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lookupID finds an id in rows read by id; MySQL compares ids without case.
func lookupID[T any](d sqldb.Dialect, m map[string]T, id string) (T, bool) {
	v, ok := m[id]
	if !ok && d == sqldb.MySQL {
		v, ok = m[strings.ToLower(id)]
	}
	return v, ok
}
