package workspace

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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
	db     *sqldb.DB
	box    *secretBox // nil when the secrets store is disabled
	nowFn  func() int64
	idFunc func() string
}

// NewStore wraps an open, migrated database.
func NewStore(db *sqldb.DB, box *secretBox) *Store {
	return &Store{db: db, box: box, nowFn: sqldb.Now, idFunc: newID}
}

// DB returns the database the store works on.
func (s *Store) DB() *sqldb.DB { return s.db }

func (s *Store) now() int64 { return s.nowFn() }

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
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

// listIDs runs the id query of a page: filters, scope, order and limits, and
// the count. Only the index is read; the rows come after, by id.
func (s *Store) listIDs(ctx context.Context, q sqldb.Querier, sp *listSpec, lq *listQuery) ([]string, int64, error) {
	where, args := lq.where()
	var total int64
	if err := q.QueryRow(ctx, "SELECT COUNT(*) FROM "+sp.table+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count %s: %w", sp.table, err)
	}
	dir := " ASC"
	if lq.desc {
		dir = " DESC"
	}
	query := "SELECT id FROM " + sp.table + where + " ORDER BY " + lq.sortCol + dir + ", id" + dir + " LIMIT ? OFFSET ?"
	rows, err := q.Query(ctx, query, append(args, lq.size, (lq.page-1)*lq.size)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", sp.table, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, 0, err
		}
		ids = append(ids, id)
	}
	return ids, total, rows.Err()
}

func (lq *listQuery) where() (string, []any) {
	var parts []string
	var args []any
	if len(lq.filters) > 0 {
		var fs []string
		for _, c := range lq.filters {
			fs = append(fs, c.sql)
			args = append(args, c.args...)
		}
		join := " AND "
		if lq.or {
			join = " OR "
		}
		parts = append(parts, "("+strings.Join(fs, join)+")")
	}
	for _, c := range lq.scope {
		parts = append(parts, "("+c.sql+")")
		args = append(args, c.args...)
	}
	if len(parts) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(parts, " AND "), args
}

// addScope narrows a list regardless of the logical operator.
func (lq *listQuery) addScope(sql string, args ...any) {
	lq.scope = append(lq.scope, cond{sql: sql, args: args})
}

// pageOf fetches the rows of ids with get and wraps them in a page.
func pageOf[T any](ctx context.Context, s *Store, sp *listSpec, lq *listQuery, get func(context.Context, sqldb.Querier, []string, bool) ([]T, error)) (client.Page[T], error) {
	ids, total, err := s.listIDs(ctx, s.db, sp, lq)
	if err != nil {
		return client.Page[T]{}, err
	}
	items, err := get(ctx, s.db, ids, lq.hydrate)
	if err != nil {
		return client.Page[T]{}, err
	}
	if items == nil {
		items = []T{}
	}
	pages := int((total + int64(lq.size) - 1) / int64(lq.size))
	if pages == 0 {
		pages = 1
	}
	return client.Page[T]{Index: lq.page, MaxSize: lq.size, TotalPages: pages, Total: total, Items: items}, nil
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

// byIDs runs "SELECT cols FROM table WHERE id IN (ids)" and scans every row
// with scan, returning the results in the order of ids.
func byIDs[T any](ctx context.Context, q sqldb.Querier, cols, table string, ids []string, scan func(*sql.Rows) (string, T, error)) ([]T, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.Query(ctx, "SELECT "+cols+" FROM "+table+" WHERE id IN ("+placeholders(len(ids))+")", args...)
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

func idArgs(ids []string) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
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
