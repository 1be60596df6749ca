// Package sqldb opens a database by URL and hides the few differences between
// SQLite, PostgreSQL and MySQL/MariaDB that hand-written portable SQL still
// meets: placeholders, a handful of types, unique-violation errors, and the
// way migrations are locked and run. It knows nothing of any domain.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"
)

// ErrNotFound is returned by stores when a row does not exist.
var ErrNotFound = errors.New("not found")

// Querier is what both *DB and *Tx offer: queries written with '?'
// placeholders, rewritten for the dialect.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
	Dialect() Dialect
}

// DB is an open database of one dialect.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	cfg     Config

	stop      chan struct{} // ends the checkpointer, if any
	stopped   chan struct{}
	stopOnce  sync.Once
	writing   chan struct{} // SQLite files: held by the transaction writing
	restartAt int           // restartFrames; tests lower it
	holdWait  time.Duration // restartWait; tests raise it

	aside   *DB // Aside's pool; db itself for SQLite in memory
	maxIdle int // connections the pool keeps open when idle
}

// ReleaseIdle closes the idle connections to a SQLite file but one, and
// with them the pages each has cached (up to 2 MiB apiece): after a busy
// spell they would hold that memory for minutes. The pool opens
// connections again as requests need them. Other databases keep theirs:
// their caches are on the database's side.
func (db *DB) ReleaseIdle() {
	if db.dialect != SQLite || db.cfg.Path == "" || db.maxIdle <= 1 {
		return
	}
	db.sql.SetMaxIdleConns(1)
	db.sql.SetMaxIdleConns(db.maxIdle)
}

// Options tune the connection pool.
type Options struct {
	MaxOpen int // 0: a default that suits the dialect
}

// DefaultPoolSize is the connections a pool to cfg's database opens at
// most when not told. SQLite: 8 (readers side by side; one writes at a
// time). A server elsewhere: 20. A server on this machine shares its cores
// with this process, and statements beyond what those cores run at once
// only wait inside the database, where the wait is not first come, first
// served: with PostgreSQL on the core of a workspace server, twenty
// connections for four clients made the slowest list in a hundred take 60
// to 80 ms, two connections 12 to 18 ms, at a higher rate. So there the
// pool is the usual size for a database's cores: twice the cores this
// process may use.
func DefaultPoolSize(cfg Config) int {
	switch {
	case cfg.Dialect == SQLite:
		return 8
	case cfg.OnThisMachine():
		return 2 * runtime.GOMAXPROCS(0)
	}
	return 20
}

// Open connects to the database at rawURL and checks that it answers.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	sdb, err := sql.Open(cfg.Driver, cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", Redact(rawURL), err)
	}
	maxOpen := opts.MaxOpen
	switch {
	case cfg.Dialect == SQLite && cfg.Path == "":
		maxOpen = 1 // every connection to :memory: would be a database of its own
	case maxOpen == 0:
		maxOpen = DefaultPoolSize(cfg)
	}
	sdb.SetMaxOpenConns(maxOpen)
	sdb.SetMaxIdleConns(maxOpen)
	sdb.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		err = sdb.PingContext(pingCtx)
		// A SQLite file that several processes open at once, turning it to
		// WAL, may answer "locked" at once rather than after the busy
		// timeout: the connection is discarded, and another one tried.
		if err == nil || cfg.Dialect != SQLite || !strings.Contains(err.Error(), "SQLITE_BUSY") || pingCtx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("connect to %s database: %v", cfg.Dialect, Redact(err.Error()))
	}
	db := &DB{sql: sdb, dialect: cfg.Dialect, cfg: cfg, maxIdle: maxOpen}
	if cfg.Dialect == SQLite && cfg.Path != "" {
		db.stop, db.stopped = make(chan struct{}), make(chan struct{})
		db.writing, db.restartAt, db.holdWait = make(chan struct{}, 1), restartFrames, restartWait
		go db.checkpoints(checkpointEvery)
	}
	db.aside = db
	if !(cfg.Dialect == SQLite && cfg.Path == "") {
		// No connection is made until the pool is used (see Aside).
		asideSQL, err := sql.Open(cfg.Driver, cfg.DSN)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open %s: %w", Redact(rawURL), err)
		}
		asideSQL.SetMaxOpenConns(1)
		asideSQL.SetMaxIdleConns(0)
		db.aside = &DB{sql: asideSQL, dialect: cfg.Dialect, cfg: cfg, writing: db.writing}
		db.aside.aside = db.aside
	}
	return db, nil
}

// checkpointEvery is how often the checkpointer of a SQLite file runs;
// restartFrames is the size of WAL (in pages) past which it also has the
// next write start the WAL over.
const (
	checkpointEvery = 250 * time.Millisecond
	restartFrames   = 16384
)

// checkpoints copies what the WAL of a SQLite file holds back into the
// database file, every period. By default SQLite does that within the
// commit that takes the WAL past a thousand pages, so one writer in every
// few dozen pays for writing and syncing everyone's pages while the others
// wait for its write lock. A PASSIVE checkpoint here takes no write lock:
// writers and readers go on meanwhile, and a page changed by many commits
// between two checkpoints is written to the database file once.
//
// Under steady writes a passive checkpoint never catches up with the end
// of the WAL, and SQLite starts the WAL over only when a write begins with
// all of it copied. So once the WAL has grown past restartFrames (64 MiB),
// a second passive checkpoint runs with this pool's writes held back (see
// LockWrites): it copies what was written since the first, and the next
// write starts the WAL over. It holds the writes for the time of one copy
// and sync (about 0.1 s at 1.5 k step creations per second), once every
// 64 MiB written instead of within every thousandth page's commit.
func (db *DB) checkpoints(period time.Duration) {
	defer close(db.stopped)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		db.checkpointRound(ctx)
		cancel()
	}
}

// checkpointRound is one round of the checkpointer. Errors (the database
// closing, a busy lock) are left for the next round; the writers never
// depend on one checkpoint.
func (db *DB) checkpointRound(ctx context.Context) {
	frames, err := db.checkpoint(ctx)
	if err != nil || frames < db.restartAt {
		return
	}
	wctx, wcancel := context.WithTimeout(ctx, db.holdWait)
	unlock := db.lockWrites(wctx)
	wcancel()
	_, _ = db.checkpoint(ctx)
	unlock()
}

// LockWrites waits until no other transaction of this pool is writing to
// the SQLite file, and returns the function that lets the next one in.
// Every transaction on SQLite begins IMMEDIATE, taking the database's write
// lock, so they run one at a time anyway; waiting here rather than in
// SQLite's busy handler, which sleeps in steps of up to 100 ms, hands the
// lock over the moment it is free. It waits at most as long as the busy
// handler would, then lets the transaction try (and SQLite decide); on other
// databases it does nothing.
func (db *DB) LockWrites(ctx context.Context) (unlock func()) {
	if db.writing == nil {
		return func() {}
	}
	ctx, cancel := context.WithTimeout(ctx, busyWait)
	defer cancel()
	return db.lockWrites(ctx)
}

// busyWait is SQLite's busy timeout: how long a connection waits for a lock.
const busyWait = 10 * time.Second

func (db *DB) lockWrites(ctx context.Context) (unlock func()) {
	select {
	case db.writing <- struct{}{}:
		return func() { <-db.writing }
	case <-ctx.Done():
		return func() {}
	}
}

// restartWait bounds how long the held-back checkpoint waits for the write
// in progress; past it, the checkpoint runs without holding writes back.
const restartWait = 200 * time.Millisecond

// checkpoint runs one PASSIVE checkpoint and returns the WAL's size in
// pages before it.
func (db *DB) checkpoint(ctx context.Context) (int, error) {
	var busy, frames, done int
	err := db.sql.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done)
	return frames, err
}

// Close stops the checkpointer and closes the pool, and Aside's; SQLite
// checkpoints the rest when its last connection closes.
func (db *DB) Close() error {
	if db.stop != nil {
		db.stopOnce.Do(func() { close(db.stop) })
		<-db.stopped
	}
	if db.aside != nil && db.aside != db {
		_ = db.aside.sql.Close()
	}
	return db.sql.Close()
}

// Aside returns the same database through a pool of its own of one
// connection, made with db and connecting only when used, for work that no
// request waits for (counting a large filter again, say): such work then
// never holds a connection the requests need.
// On PostgreSQL next to the server, where the requests' pool is two
// connections, a background count of seconds held half of it; with the
// count aside, a list of runs served 852–974 req/s before and 991–1 047
// after, alternating (docs/performance.md).
//
// The connection is closed after each use. The SQLite build shares one
// cache of pages among all connections of the process, and a connection
// that has just scanned a table keeps most of it: the requests' connections
// then read their pages from the file again on every request (1 700 reads
// for a page of runs instead of none) until it closes. SQLite in memory has
// no second pool (each connection would be a database of its own): there
// Aside returns db itself.
func (db *DB) Aside() *DB { return db.aside }

// Dialect tells which database this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// Config returns the parsed URL the database was opened with.
func (db *DB) Config() Config { return db.cfg }

// SQL exposes the pool for the few callers that need database/sql directly.
func (db *DB) SQL() *sql.DB { return db.sql }

func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.sql.ExecContext(ctx, Rebind(db.dialect, q), args...)
}

func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.sql.QueryContext(ctx, Rebind(db.dialect, q), args...)
}

func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return db.sql.QueryRowContext(ctx, Rebind(db.dialect, q), args...)
}

// Tx is a transaction with the same '?' query methods as DB.
type Tx struct {
	tx      *sql.Tx
	dialect Dialect
}

func (tx *Tx) Dialect() Dialect { return tx.dialect }

func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, Rebind(tx.dialect, q), args...)
}

func (tx *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(ctx, Rebind(tx.dialect, q), args...)
}

func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(ctx, Rebind(tx.dialect, q), args...)
}

// InTx runs fn in a transaction, committing when it returns nil and rolling
// back otherwise, so that a failed request leaves no half-written rows.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	defer db.LockWrites(ctx)()
	stx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{tx: stx, dialect: db.dialect}
	if err := fn(tx); err != nil {
		_ = stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Rebind rewrites '?' placeholders as $1, $2, ... for PostgreSQL. Question
// marks inside quoted strings are left alone.
func Rebind(d Dialect, q string) string {
	if d != Postgres || strings.IndexByte(q, '?') < 0 {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	inQuote := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			b.WriteByte('$')
			b.WriteString(itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// IsUniqueViolation reports whether err is a unique or primary-key violation.
func IsUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1062
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		code := lite.Code()
		return code == 2067 || code == 1555 // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
	}
	return false
}

// IsForeignKeyViolation reports whether err is a broken reference.
func IsForeignKeyViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23503"
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1452 || my.Number == 1451
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		return lite.Code() == 787 // SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// Now is the current time as stored: microseconds since the epoch, UTC.
// Integers sort and compare the same way on all three databases.
func Now() int64 { return time.Now().UnixMicro() }

// Time turns a stored timestamp back into a time.
func Time(us int64) time.Time { return time.UnixMicro(us).UTC() }

// JSONObjects returns an aggregate, in dialect d, that collects key →
// value of each row into a JSON object, as text; the keys must differ and
// not be NULL. Over no rows it is NULL on PostgreSQL and MySQL and '{}' on
// SQLite. Used in a correlated subquery, it brings a row's related rows
// along in the row's own query. (MariaDB's JSON_ARRAYAGG, like its
// GROUP_CONCAT, makes a temporary table every time it runs: about 0.2 ms
// per subquery even over no rows, against 0.03–0.05 ms for JSON_OBJECTAGG.)
func JSONObjects(d Dialect, key, value string) string {
	switch d {
	case Postgres:
		return "json_object_agg(" + key + ", " + value + ")"
	case MySQL:
		return "JSON_OBJECTAGG(" + key + ", " + value + ")"
	default:
		return "json_group_object(" + key + ", " + value + ")"
	}
}

// JSONArray returns a JSON array of exprs in dialect d, to be a value of
// JSONObjects.
func JSONArray(d Dialect, exprs ...string) string {
	list := strings.Join(exprs, ", ")
	switch d {
	case Postgres:
		return "json_build_array(" + list + ")"
	case MySQL:
		return "JSON_ARRAY(" + list + ")"
	default:
		return "json_array(" + list + ")"
	}
}
