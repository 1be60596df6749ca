package workspace

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// Store is the workspace server's database: projects, stacks, pipelines,
// runs, artifacts, models, secrets and their users. Every method takes a
// context first; a missing row is an errs.NotFound error, never (nil, nil).
// Reads of many rows are batched: one query for a page of ids, one for the
// rows, one per kind of related rows.
type Store struct {
	db      *storeDB
	counts  *countCache
	seeks   seekCache
	box     *secretBox              // nil when the secrets store is disabled
	users   *userCache              // the users of sessions, briefly
	owners  *boundedMap[runOwnerOf] // project and owner of runs, which never change
	docs    *runDocCache            // runs as GET answers them (see run_docs.go)
	planned *boundedMap[int]        // steps of snapshots, which never change
	grams   map[string]bool         // indexes of substrings the database has (see name_search.go)
	probes  *boundedMap[gramsProbe] // whether they serve a filter, on SQLite
	log     *slog.Logger

	stepGroup *stepGroup // concurrent step creations commit together
	nowFn     func() int64
	idFunc    func() string
}

// NewStore wraps an open, migrated database.
func NewStore(db *sqldb.DB, box *secretBox) *Store {
	s := &Store{db: newStoreDB(db), box: box, nowFn: sqldb.Now, idFunc: newID, log: slog.New(slog.DiscardHandler),
		counts: newCountCache(), seeks: newSeekCache(), users: newUserCache(sessionUserTTL), docs: newRunDocCache(runDocBytes),
		owners: newBoundedMap[runOwnerOf](maxOwners), planned: newBoundedMap[int](maxStepCounts),
		probes: newBoundedMap[gramsProbe](maxCounts)}
	s.stepGroup = &stepGroup{s: s}
	return s
}

// DB returns the database the store works on.
func (s *Store) DB() *sqldb.DB { return s.db.DB }

func (s *Store) now() int64 { return s.nowFn() }

// newID returns a time-ordered (version 7) UUID: 48 bits of Unix
// milliseconds, then 74 random bits. Rows created one after another get ids
// that sort after each other, so that their primary-key index grows at its
// end, where the pages are already in memory, instead of touching a random
// page of a large index for every insert. Any UUID is valid on the wire.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// validID reports whether s is a UUID in its canonical text form.
func validID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// wireTime turns stored microseconds into the wire's time.
func wireTime(us int64) client.Time { return client.NewTime(sqldb.Time(us)) }

func wireTimePtr(us sql.NullInt64) *client.Time {
	if !us.Valid {
		return nil
	}
	t := wireTime(us.Int64)
	return &t
}

func timeArg(t *client.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func strPtr(ns sql.NullString) *string {
	if !ns.Valid {
		return nil
	}
	s := ns.String
	return &s
}

func nullStr(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func emptyNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonText encodes v for a text column; nil maps and slices become {} or [].
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return "{}"
	}
	return string(b)
}

func rawOr(b json.RawMessage, def string) string {
	if len(b) == 0 || string(b) == "null" {
		return def
	}
	return string(b)
}

func decodeMap(s string) map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal([]byte(s), &m)
	return m
}

// notFound maps sql.ErrNoRows to a NotFound error naming what was missing.
func notFound(err error, what, id string) error {
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, sqldb.ErrNotFound) {
		return errs.E(errs.NotFound, "%s %s not found", what, id)
	}
	return err
}

// writeErr turns constraint violations into client errors.
func writeErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case sqldb.IsUniqueViolation(err):
		return errs.Wrap(errs.Conflict, err, "a %s with that name already exists", what)
	case sqldb.IsForeignKeyViolation(err):
		return errs.Wrap(errs.Conflict, err, "the %s is still in use, or refers to something that does not exist", what)
	}
	return err
}

// one fetches a single row through a batch getter.
func one[T any](ctx context.Context, q sqldb.Querier, id, what string, hydrate bool, get func(context.Context, sqldb.Querier, []string, bool) ([]T, error)) (T, error) {
	var zero T
	if !validID(id) {
		return zero, errs.E(errs.NotFound, "%s %s not found", what, id)
	}
	items, err := get(ctx, q, []string{strings.ToLower(id)}, hydrate)
	if err != nil {
		return zero, err
	}
	if len(items) == 0 {
		return zero, errs.E(errs.NotFound, "%s %s not found", what, id)
	}
	return items[0], nil
}

// keyRead returns the context for a read of rows by their keys, whose work
// is bounded by the keys it is given. On SQLite such a read takes
// microseconds on a local file and cannot wait on a network, so it is not
// worth cancelling: a context that can be cancelled costs two goroutines a
// query, one in database/sql and one in the driver, each watching it (a
// read of a run from the bench's store of a million runs, 8 at once on one
// core, took 34 µs with them and 27 without: BenchmarkReadRunFromStore).
// On PostgreSQL and MySQL the context stays: it bounds waits on the
// network.
func keyRead(ctx context.Context, d sqldb.Dialect) context.Context {
	if d == sqldb.SQLite {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// byIDs runs "SELECT cols FROM table WHERE id IN (ids)" and scans every row
// with scan, returning the results in the order of ids.
func byIDs[T any](ctx context.Context, q sqldb.Querier, cols, table string, ids []string, scan func(*sql.Rows) (string, T, error)) ([]T, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := q.Query(keyRead(ctx, q.Dialect()), "SELECT "+cols+" FROM "+table+" WHERE id IN ("+idMarks(ids)+")", idArgs(ids)...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	m := make(map[string]T, len(ids))
	for rows.Next() {
		id, v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		m[id] = v
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]T, 0, len(m))
	for _, id := range ids {
		if v, ok := m[id]; ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// countsBy runs query, whose rows are a key and a count, and returns the
// counts by key.
func countsBy(ctx context.Context, q sqldb.Querier, query string, args ...any) (map[string]int64, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		counts[k] = n
	}
	return counts, rows.Err()
}

// idArgs are the arguments of an "IN (idMarks(ids))" list. The list is
// padded to a power of two by repeating the last id, which changes nothing
// in the answer but leaves few distinct statement texts, so that prepared
// statements are reused (see storeDB).
func idArgs(ids []string) []any {
	args := make([]any, paddedLen(len(ids)))
	for i := range args {
		args[i] = ids[min(i, len(ids)-1)]
	}
	return args
}

// idMarks are the placeholders of idArgs(ids).
func idMarks(ids []string) string { return placeholders(paddedLen(len(ids))) }

func paddedLen(n int) int {
	if n == 0 {
		return 0
	}
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// Setting reads a value of the settings table.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.db.QueryRow(ctx, "SELECT value FROM ws_settings WHERE name = ?", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", sqldb.ErrNotFound
	}
	return v, err
}

// SettingOrInit returns the setting, storing mk()'s value first if there is
// none. Two servers starting at once agree on one value.
func (s *Store) SettingOrInit(ctx context.Context, name string, mk func() string) (string, error) {
	v, err := s.Setting(ctx, name)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sqldb.ErrNotFound) {
		return "", err
	}
	if _, err := s.db.Exec(ctx, "INSERT INTO ws_settings (name, value) VALUES (?, ?)", name, mk()); err != nil && !sqldb.IsUniqueViolation(err) {
		return "", err
	}
	return s.Setting(ctx, name)
}

// ref resolves a name-or-id reference to the id of a row of table, with an
// optional project scope.
func (s *Store) ref(ctx context.Context, q sqldb.Querier, table, what, ref, projectID string) (string, error) {
	if ref == "" {
		return "", errs.E(errs.Invalid, "%s is required", what)
	}
	if len(ref) > 255 {
		return "", errs.E(errs.Invalid, "%s reference is too long", what)
	}
	query, args := "SELECT id FROM "+table+" WHERE ", []any{}
	if validID(ref) {
		query += "id = ?"
		args = append(args, strings.ToLower(ref))
	} else {
		query += "name = ?"
		args = append(args, ref)
	}
	if projectID != "" {
		query += " AND project_id = ?"
		args = append(args, projectID)
	}
	var id string
	if err := q.QueryRow(ctx, query, args...).Scan(&id); err != nil {
		return "", notFound(err, what, fmt.Sprintf("%q", ref))
	}
	return id, nil
}
