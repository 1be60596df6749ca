package workspace

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// The list query language of the wire: page, size, sort_by=[asc:|desc:]field,
// logical_operator=and|or, hydrate, and one parameter per filtered field with
// a value "op:value" (equals when no known operator leads it).

type fieldKind int

const (
	kString fieldKind = iota
	kID
	kInt
	kTime
	kBool
)

// field is one filterable column of a list.
type field struct {
	col  string
	kind fieldKind
	enum []string // allowed values, for enumerations
	sort bool     // may be used in sort_by (it has an index)
	// grams names the index of the column's substrings that the database
	// may have (see name_search.go), for contains, startswith and endswith.
	grams string
}

// listSpec says what a list offers.
type listSpec struct {
	table  string
	fields map[string]field
	// params are further query parameters the handler reads itself
	// (project, user, tag, ...).
	params []string
}

// cond is a piece of a WHERE clause with its arguments.
type cond struct {
	sql  string
	args []any
	// like, when set, is the column of a case-insensitive text match, whose
	// SQL depends on the dialect (see render): match is "contains",
	// "startswith" or "endswith", and text the lowercased value. grams is
	// the index of the column's substrings it may use (field.grams).
	like, match, text, grams string
}

// render is c's SQL in dialect d, with its arguments; grams says whether
// the database has c's index of substrings (c.grams).
//
// SQLite's LIKE ignores the case of ASCII letters already, and its LOWER
// folds no others, so there the column is compared as it is, which spares
// a function call per row scanned. PostgreSQL has ILIKE, which its planner
// estimates from the column's statistics; for LOWER(column) LIKE it has
// none, guesses that a pattern such as '%name%' matches a few rows, and
// sorts a scan of the whole table instead of walking the index of the
// order until 50 match. Its ILIKE lowercases every row it compares,
// through the C library's wide characters under a database's usual
// collation (C.UTF-8, en_US.UTF-8); in the C collation it folds ASCII
// letters only, as SQLite does, at half the cost per row. A substring is
// cheaper still to find with strpos in the column lowercased in the C
// collation (the same folding): a name filter walking 1 266 runs took
// 0.58–0.68 ms that way against 1.1–1.2 ms with ILIKE, and the planner,
// with no estimate for strpos, keeps walking the order's index.
//
// Where PostgreSQL has an index of the lowercased column's trigrams, the
// match is written as that index's expression with LIKE: the planner then
// has the expression's statistics (ANALYZE keeps them for an index's
// expressions) and chooses between walking the order's index, for a
// pattern many rows match, and the trigram index, for a rare one.
func (c cond) render(d sqldb.Dialect, grams bool) (string, []any) {
	if c.like == "" {
		return c.sql, c.args
	}
	if d == sqldb.Postgres && c.match == "contains" && !grams {
		return `strpos(lower(` + c.like + ` COLLATE "C"), ?) > 0`, []any{c.text}
	}
	pat := c.pattern()
	args := []any{pat}
	switch d {
	case sqldb.SQLite:
		if grams && gramsFind(c.text) {
			// The FTS5 table finds the rows whose names hold the
			// pattern's trigrams; the name itself is tested again, so
			// that the answers are LIKE's whatever the table holds.
			return "(rowid IN (SELECT rowid FROM " + c.grams + " WHERE " + c.like + " LIKE ?) AND " + c.like + " LIKE ? ESCAPE '!')", []any{pat, pat}
		}
		return c.like + " LIKE ? ESCAPE '!'", args
	case sqldb.Postgres:
		if grams {
			return `lower(` + c.like + ` COLLATE "C") LIKE ? ESCAPE '!'`, args
		}
		return c.like + ` COLLATE "C" ILIKE ? ESCAPE '!'`, args
	default:
		if c.match == "contains" {
			// A plain substring, which LOCATE finds without a pattern
			// to parse or escapes to honour: a fragment one run of a
			// million holds, 268 against 319 ms on MariaDB.
			return "LOCATE(?, LOWER(" + c.like + ")) > 0", []any{c.text}
		}
		return "LOWER(" + c.like + ") LIKE ? ESCAPE '!'", args
	}
}

// pattern is c's text as a LIKE pattern with '!' as its escape.
func (c cond) pattern() string {
	pat := likeEscape(c.text)
	switch c.match {
	case "contains":
		pat = "%" + pat + "%"
	case "startswith":
		pat += "%"
	case "endswith":
		pat = "%" + pat
	}
	return pat
}

// gramsFind reports whether SQLite's FTS5 table of trigrams can look for
// text: three characters at least (a trigram), and none that LIKE treats
// as its own or escapes, since FTS5 takes a pattern without ESCAPE.
func gramsFind(text string) bool {
	return utf8.RuneCountInString(text) >= 3 && !strings.ContainsAny(text, "%_!")
}

// listQuery is a parsed list request.
type listQuery struct {
	page, size int
	sortCol    string
	desc       bool
	or         bool
	hydrate    bool
	filters    []cond // joined by the logical operator
	scope      []cond // always ANDed: project, visibility, ...
	params     url.Values
}

const (
	defaultPageSize = 20
	maxPageSize     = 10000
	maxFilterValue  = 1024
	maxOneOf        = 200
)

var (
	stringOps = []string{"equals", "notequals", "contains", "startswith", "endswith", "oneof", "in"}
	idOps     = []string{"equals", "notequals", "oneof", "in", "startswith", "contains"}
	orderOps  = []string{"equals", "notequals", "gt", "gte", "lt", "lte", "oneof", "in"}
	timeOps   = []string{"equals", "notequals", "gt", "gte", "lt", "lte"}
	boolOps   = []string{"equals", "notequals"}
	enumOps   = []string{"equals", "notequals", "oneof", "in"}
	allOps    = []string{"equals", "notequals", "contains", "startswith", "endswith", "oneof", "in", "gt", "gte", "lt", "lte"}
)

// baseFields are offered by every list.
func baseFields(extra map[string]field) map[string]field {
	m := map[string]field{
		"id":      {col: "id", kind: kID},
		"created": {col: "created", kind: kTime, sort: true},
		"updated": {col: "updated", kind: kTime, sort: true},
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// parseList reads a list request's query against sp. Unknown parameters,
// repeated parameters, unknown operators and malformed values are errors.
func parseList(q url.Values, sp *listSpec) (*listQuery, error) {
	lq := &listQuery{page: 1, size: defaultPageSize, sortCol: "created", params: url.Values{}}
	for name, vals := range q {
		if len(vals) != 1 {
			return nil, errs.E(errs.Invalid, "query parameter %q is given %d times: give it once", name, len(vals))
		}
		v := vals[0]
		if len(v) > maxFilterValue*4 {
			return nil, errs.E(errs.Invalid, "query parameter %q is too long", name)
		}
		var err error
		if slices.Contains(readFlags, name) {
			if _, err := boolParam(name, v); err != nil {
				return nil, err
			}
			continue
		}
		switch name {
		case "page":
			lq.page, err = intParam(name, v, 1, 1<<30)
		case "size":
			lq.size, err = intParam(name, v, 1, maxPageSize)
		case "hydrate":
			lq.hydrate, err = boolParam(name, v)
		case "logical_operator":
			switch strings.ToLower(v) {
			case "and":
			case "or":
				lq.or = true
			default:
				err = errs.E(errs.Invalid, "logical_operator must be and or or, not %q", v)
			}
		case "sort_by":
			err = lq.parseSort(v, sp)
		default:
			if slices.Contains(sp.params, name) {
				lq.params.Set(name, v)
				continue
			}
			f, ok := sp.fields[name]
			if !ok {
				return nil, errs.E(errs.Invalid, "unknown query parameter %q", name)
			}
			var c cond
			c, err = parseFilter(name, v, f)
			lq.filters = append(lq.filters, c)
		}
		if err != nil {
			return nil, err
		}
	}
	// A stable order: the filters came from a map.
	slices.SortFunc(lq.filters, func(a, b cond) int { return strings.Compare(a.sql, b.sql) })
	return lq, nil
}

func intParam(name, v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errs.E(errs.Invalid, "%s must be a whole number from %d to %d, not %q", name, lo, hi, v)
	}
	return n, nil
}

// flag reads the boolean parameter name of a list (false when absent).
func (lq *listQuery) flag(name string) (bool, error) { return boolParam(name, lq.params.Get(name)) }

// boolParam reads a list's flag; empty is false.
func boolParam(name, v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	return httpapi.ParseBool(name, v)
}

func (lq *listQuery) parseSort(v string, sp *listSpec) error {
	dir, name, ok := strings.Cut(v, ":")
	if !ok {
		dir, name = "asc", v
	}
	switch dir {
	case "asc":
		lq.desc = false
	case "desc":
		lq.desc = true
	default:
		return errs.E(errs.Invalid, "sort_by %q: the order must be asc or desc", v)
	}
	f, ok := sp.fields[name]
	if !ok || !f.sort {
		return errs.E(errs.Invalid, "sort_by %q: cannot sort by %q (sortable: %s)", v, name, strings.Join(sortable(sp), ", "))
	}
	lq.sortCol = f.col
	return nil
}

func sortable(sp *listSpec) []string {
	var out []string
	for k, f := range sp.fields {
		if f.sort {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// parseFilter turns "op:value" for field f into SQL.
func parseFilter(name, raw string, f field) (cond, error) {
	op, val := "equals", raw
	if p, rest, ok := strings.Cut(raw, ":"); ok && slices.Contains(allOps, p) {
		op, val = p, rest
	}
	allowed := stringOps
	switch {
	case f.enum != nil:
		allowed = enumOps
	case f.kind == kID:
		allowed = idOps
	case f.kind == kInt:
		allowed = orderOps
	case f.kind == kTime:
		allowed = timeOps
	case f.kind == kBool:
		allowed = boolOps
	}
	if !slices.Contains(allowed, op) {
		return cond{}, errs.E(errs.Invalid, "filter %s: operator %q is not allowed here (allowed: %s)", name, op, strings.Join(allowed, ", "))
	}
	if len(val) > maxFilterValue && op != "oneof" && op != "in" {
		return cond{}, errs.E(errs.Invalid, "filter %s: the value is longer than %d characters", name, maxFilterValue)
	}
	switch op {
	case "contains", "startswith", "endswith":
		if f.kind == kID && strings.Trim(strings.ToLower(val), "0123456789abcdef-") != "" {
			return cond{}, errs.E(errs.Invalid, "filter %s: %q is not part of an id", name, val)
		}
		return cond{like: f.col, match: op, text: strings.ToLower(val), grams: f.grams}, nil
	case "oneof", "in":
		vals, err := listValue(name, val)
		if err != nil {
			return cond{}, err
		}
		if len(vals) == 0 {
			return cond{sql: "1 = 0"}, nil
		}
		args := make([]any, len(vals))
		for i, v := range vals {
			if args[i], err = typedValue(name, v, f); err != nil {
				return cond{}, err
			}
		}
		return cond{sql: f.col + " IN (" + placeholders(len(args)) + ")", args: args}, nil
	}
	arg, err := typedValue(name, val, f)
	if err != nil {
		return cond{}, err
	}
	sqlOp := map[string]string{"equals": "=", "notequals": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
	return cond{sql: f.col + " " + sqlOp + " ?", args: []any{arg}}, nil
}

func listValue(name, val string) ([]string, error) {
	var vals []string
	if strings.HasPrefix(strings.TrimSpace(val), "[") {
		if err := json.Unmarshal([]byte(val), &vals); err != nil {
			return nil, errs.E(errs.Invalid, "filter %s: oneof wants a JSON list of strings like [\"a\",\"b\"]", name)
		}
	} else if val != "" {
		vals = strings.Split(val, ",")
	}
	if len(vals) > maxOneOf {
		return nil, errs.E(errs.Invalid, "filter %s: at most %d values", name, maxOneOf)
	}
	return vals, nil
}

func typedValue(name, v string, f field) (any, error) {
	if len(v) > maxFilterValue {
		return nil, errs.E(errs.Invalid, "filter %s: a value is longer than %d characters", name, maxFilterValue)
	}
	if f.enum != nil && !slices.Contains(f.enum, v) {
		return nil, errs.E(errs.Invalid, "filter %s: %q is not one of %s", name, v, strings.Join(f.enum, ", "))
	}
	switch f.kind {
	case kID:
		if !validID(v) {
			return nil, errs.E(errs.Invalid, "filter %s: %q is not an id", name, v)
		}
		return strings.ToLower(v), nil
	case kInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, errs.E(errs.Invalid, "filter %s: %q is not a whole number", name, v)
		}
		return n, nil
	case kTime:
		t, err := client.ParseTime(v)
		if err != nil {
			return nil, errs.E(errs.Invalid, "filter %s: %v", name, err)
		}
		return t.UnixMicro(), nil
	case kBool:
		b, err := boolParam("filter "+name, v)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	return v, nil
}

// likeEscape escapes LIKE's wildcards with '!', an escape character that
// means the same on all three databases (a backslash does not on MySQL).
func likeEscape(s string) string { return likeEscaper.Replace(s) }

var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}
