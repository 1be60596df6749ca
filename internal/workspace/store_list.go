package workspace

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// listIDs runs the id query of a page: filters, scope, order and limits, and
// then the count, unless it is kept or the first page holds every match.
// Only the index is read; the rows come after, by id. When the page before
// this one was just served, the page starts where it ended (the seek
// method) instead of skipping page×size index entries: paging through a
// million runs costs the same on every page.
//
// With rr, a page that starts at its first row (page 1, or a seek) reads the
// rows themselves in the same query, through rr, which saves looking each up
// again by id; direct says so. A page after an OFFSET still reads ids only:
// the skipped rows are then index entries, not rows.
func (s *Store) listIDs(ctx context.Context, q sqldb.Querier, sp *listSpec, lq *listQuery, rr *rowReader) (ids []string, total int64, direct bool, err error) {
	// The filter written with every index of substrings names its kept
	// count and its pages; which SQL serves it is chosen here.
	where, args := lq.where(q.Dialect(), s.grams)
	counted := countOf(sp.table, where, args)
	key := counted.key
	if lq.usesGrams(s.grams) && !s.gramsServe(ctx, q, key, lq) {
		counted.where, counted.args = lq.where(q.Dialect(), nil)
	}
	where, args = counted.where, counted.args
	total, known := s.knownCount(counted)
	dir, cmp, cmpEq := " ASC", " > ", " >= "
	if lq.desc {
		dir, cmp, cmpEq = " DESC", " < ", " <= "
	}
	pageKey := func(page int) string {
		return key + "\x00" + lq.sortCol + dir + "\x00" + strconv.Itoa(lq.size) + "\x00" + strconv.Itoa(page)
	}
	seekable := lq.sortCol == "created" || lq.sortCol == "updated" // never NULL, ordered alike everywhere
	offset := (lq.page - 1) * lq.size
	sortExpr := "0"
	if seekable {
		sortExpr = lq.sortCol
	}
	query := ""
	qargs := slices.Clip(args)
	if seekable && lq.page > 1 {
		// Where the page before ended, or where this page began when it
		// was last served (the first row included).
		k, ok := s.seeks.get(pageKey(lq.page - 1))
		idCmp := cmp
		if !ok {
			if k, ok = s.seeks.get(pageKey(lq.page) + startKey); ok {
				idCmp = cmpEq
			}
		}
		if ok {
			// The first term bounds the index range; with the OR alone
			// the databases walk the index from its start.
			c := lq.sortCol + cmpEq + "? AND (" + lq.sortCol + cmp + "? OR id" + idCmp + "?)"
			if where == "" {
				query = " WHERE " + c
			} else {
				query = " AND " + c
			}
			qargs = append(qargs, k.value, k.value, k.id)
			offset = 0
		}
	}
	direct = rr != nil && offset == 0 && !(q.Dialect() == sqldb.MySQL && lq.sortCol == "created" && lq.matchesRunNames())
	cols := "id"
	if direct {
		cols = rr.cols
	}
	query = "SELECT " + sortExpr + ", " + cols + " FROM " + sp.table + where + query +
		" ORDER BY " + lq.sortCol + dir + ", id" + dir + " LIMIT ? OFFSET ?"
	rows, err := q.Query(ctx, query, append(qargs, lq.size, offset)...)
	if err != nil {
		return nil, 0, false, fmt.Errorf("list %s: %w", sp.table, err)
	}
	defer rows.Close()
	ids = make([]string, 0, min(lq.size, 64))
	var first, last seekKey
	for rows.Next() {
		var v sql.NullInt64
		if direct {
			last.id, err = rr.scan(rows, &v)
		} else {
			err = rows.Scan(&v, &last.id)
		}
		if err != nil {
			return nil, 0, false, err
		}
		last.value = v.Int64
		if len(ids) == 0 {
			first = last
		}
		ids = append(ids, last.id)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, false, err
	}
	if seekable && len(ids) == lq.size {
		s.seeks.put(pageKey(lq.page), last)
	}
	if seekable && lq.page > 1 && len(ids) > 0 {
		s.seeks.put(pageKey(lq.page)+startKey, first)
	}
	switch {
	case known:
	case lq.page == 1 && len(ids) < lq.size:
		// The first page holds every match: it is the count. (A count
		// this small is not kept, so every such list would count again.)
		total = int64(len(ids))
	default:
		if total, err = s.count(ctx, q, counted); err != nil {
			return nil, 0, false, err
		}
	}
	return ids, total, direct, nil
}

// rowReader reads whole rows in the query of a page: cols are the columns
// (id first), and scan scans one, after the sort value in v, keeps it, and
// returns its id.
type rowReader struct {
	cols string
	scan func(rows *sql.Rows, v *sql.NullInt64) (string, error)
}

// where is the list's WHERE clause in dialect d, where the database has the
// indexes of substrings in grams.
func (lq *listQuery) where(d sqldb.Dialect, grams map[string]bool) (string, []any) {
	var parts []string
	var args []any
	if len(lq.filters) > 0 {
		var fs []string
		for _, c := range lq.filters {
			sql, a := c.render(d, grams[c.grams])
			fs = append(fs, sql)
			args = append(args, a...)
		}
		join := " AND "
		if lq.or {
			join = " OR "
		}
		parts = append(parts, "("+strings.Join(fs, join)+")")
	}
	for _, c := range lq.scope {
		sql, a := c.render(d, grams[c.grams])
		parts = append(parts, "("+sql+")")
		args = append(args, a...)
	}
	if len(parts) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(parts, " AND "), args
}

// matchesRunNames reports whether a filter of lq matches a part of runs'
// names. On MySQL such a list sorted by creation reads the ids of its page
// alone: the index of creation holds the names (migration 5), so InnoDB
// tests them there, where reading whole rows would fetch each run it tests
// from the table (1.5 s against 0.26 s for a fragment one run of a million
// holds, which walks them all). The page's runs are then read by id.
func (lq *listQuery) matchesRunNames() bool {
	for _, c := range lq.filters {
		if c.grams == runNameGrams {
			return true
		}
	}
	return false
}

// usesGrams reports whether a filter of lq is written for one of the
// indexes of substrings in grams.
func (lq *listQuery) usesGrams(grams map[string]bool) bool {
	for _, c := range lq.filters {
		if grams[c.grams] {
			return true
		}
	}
	return false
}

// addScope narrows a list regardless of the logical operator.
func (lq *listQuery) addScope(sql string, args ...any) {
	lq.scope = append(lq.scope, cond{sql: sql, args: args})
}

// pageOf fetches the rows of ids with get and wraps them in a page.
func pageOf[T any](ctx context.Context, s *Store, sp *listSpec, lq *listQuery, get func(context.Context, sqldb.Querier, []string, bool) ([]T, error)) (client.Page[T], error) {
	ids, total, _, err := s.listIDs(ctx, s.db, sp, lq, nil)
	if err != nil {
		return client.Page[T]{}, err
	}
	items, err := get(ctx, s.db, ids, lq.hydrate)
	if err != nil {
		return client.Page[T]{}, err
	}
	return newPage(lq, total, items), nil
}

// newPage wraps items, the page lq asked for out of total.
func newPage[T any](lq *listQuery, total int64, items []T) client.Page[T] {
	if items == nil {
		items = []T{}
	}
	pages := int((total + int64(lq.size) - 1) / int64(lq.size))
	if pages == 0 {
		pages = 1
	}
	return client.Page[T]{Index: lq.page, MaxSize: lq.size, TotalPages: pages, Total: total, Items: items}
}

// seekKey is where a page ended: its last row's sort value and id.
type seekKey struct {
	value int64
	id    string
}

// seekCache remembers where recent pages ended, and where those past the
// first began, per filter, order, size and page, for a minute.
type seekCache struct{ m *boundedMap[seekEntry] }

type seekEntry struct {
	key seekKey
	at  time.Time
}

// startKey marks the key of where a page began.
const startKey = "\x00start"

const (
	seekTTL     = time.Minute
	maxSeekKeys = 4096
)

func newSeekCache() seekCache { return seekCache{newBoundedMap[seekEntry](maxSeekKeys)} }

func (c seekCache) get(k string) (seekKey, bool) {
	e, ok := c.m.get(k)
	if !ok || time.Since(e.at) > seekTTL {
		return seekKey{}, false
	}
	return e.key, true
}

func (c seekCache) put(k string, v seekKey) { c.m.put(k, seekEntry{key: v, at: time.Now()}) }
