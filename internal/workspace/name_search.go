package workspace

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// Finding runs by a part of their name (name=contains:, startswith:,
// endswith:, the dashboard's search box) without an index of substrings
// walks the index of the list's sort and tests each run's name until a
// page is full. A fragment many runs share fills a page soon; a rare one
// walks the whole index, about half a second at a million runs.
//
// Migration 6 adds an index of the trigrams of the runs' names, which finds
// the runs that hold a fragment of three letters or more without reading
// the others:
//
//   - PostgreSQL: pg_trgm's gin_trgm_ops on lower(name COLLATE "C").
//     pg_trgm ships with PostgreSQL (Debian's postgresql package, the
//     official images, the managed services) and may be created by any
//     owner of the database since PostgreSQL 13; where it cannot be, the
//     migration goes on without it and the server says so when it starts.
//   - SQLite: an FTS5 table with the trigram tokenizer (runs_name_grams),
//     whose rows are the runs' rowids, kept by triggers on pipeline_runs.
//     A run's rowid stays what it was unless the file is VACUUMed by hand
//     (Enclave never does), which may renumber the runs: the filter tests
//     every name it is given again, so the table can never add a run that
//     does not match, but after such a VACUUM it may miss some until it is
//     rebuilt: INSERT INTO runs_name_grams (runs_name_grams) VALUES ('rebuild').
//     FTS5 takes no ESCAPE, so a fragment with % _ or ! walks as before.
//   - MariaDB has no index of substrings (its n-gram parser is MySQL's
//     alone): there a rare fragment walks the whole index of the sort.
//
// Nothing but speed depends on the index: the filter's answers are the
// same with and without it (render in filter.go writes the match so that
// the database can use it).

// gramsAtMost is the most rows a name filter may match for a page to be
// found through an index of substrings: beyond it, walking the index of the
// sort finds 50 of them sooner (a page of 50 among 5 000 of a million runs
// walks 10 000 entries, about the cost of reading 5 000 rows found by the
// trigram index and sorting them). So such a filter is asked for without
// the index in view (gramsServe, listIDs), which PostgreSQL also plans for
// less; its count is kept under the filter's key whichever form counted it.
const gramsAtMost = 5000

// gramsServe reports whether lq's name filters are best found through the
// indexes of substrings: where the filter's count is kept, when it is at
// most gramsAtMost; otherwise on PostgreSQL always (its planner chooses
// from the statistics of the index's expression), and on SQLite when the
// FTS5 table finds at most gramsAtMost rows for each fragment, which it
// tells soon for a rare fragment and, for one that most runs hold, sooner
// than it would find them all. SQLite's answer is kept for gramsProbeLife:
// a rare fragment's count is not kept (it is under the count's bound), and
// the probe would otherwise double the work of each such list. key is the
// filter's key in the count cache.
func (s *Store) gramsServe(ctx context.Context, q sqldb.Querier, key string, lq *listQuery) bool {
	if n, ok := s.counts.peek(key); ok {
		return n <= gramsAtMost
	}
	if q.Dialect() != sqldb.SQLite {
		return true
	}
	if p, ok := s.probes.get(key); ok && time.Since(p.at) < gramsProbeLife {
		return p.serve
	}
	serve := true
	for _, c := range lq.filters {
		if !s.grams[c.grams] || !gramsFind(c.text) {
			continue
		}
		var n int
		probe := "SELECT COUNT(*) FROM (SELECT 1 FROM " + c.grams + " WHERE " + c.like + " LIKE ? LIMIT " + strconv.Itoa(gramsAtMost+1) + ") g"
		if err := q.QueryRow(ctx, probe, c.pattern()).Scan(&n); err != nil {
			return false // the page's query will report it
		}
		serve = serve && n <= gramsAtMost
	}
	s.probes.put(key, gramsProbe{serve: serve, at: time.Now()})
	return serve
}

// gramsProbe is what gramsServe found on SQLite, and when.
type gramsProbe struct {
	serve bool
	at    time.Time
}

const gramsProbeLife = countTTL

// runNameGrams is the index of the trigrams of the runs' lowercased names.
const runNameGrams = "runs_name_grams"

// runNameGramsSQL creates it, for an operator who adds pg_trgm later.
//
// A GIN index puts what runs add to it in a pending list that every search
// reads whole, until the list outgrows gin_pending_list_limit (4 MB by
// default) or a vacuum merges it into the index. Every run created, and
// every change of a run's status (not a HOT update: the status is
// indexed), adds its name's trigrams to that list, so with runs coming and
// ending a rare fragment read up to 512 pending pages: 6–7 ms against
// 1.3 ms once merged, on the bench store with 447 pages pending. Here the
// list is merged at 512 kB, 64 pages, by the writer that fills it.
const runNameGramsSQL = `CREATE INDEX IF NOT EXISTS ` + runNameGrams + ` ON pipeline_runs USING gin (lower(name COLLATE "C") gin_trgm_ops) WITH (` + gramsPendingLimit + `)`

// gramsPendingLimit is the index's storage parameter that bounds its
// pending list (in kB).
const gramsPendingLimit = "gin_pending_list_limit = 512"

// findSubstringIndexes records which indexes of substrings the database
// has, and tells the operator when PostgreSQL lacks one.
func (s *Store) findSubstringIndexes(ctx context.Context) error {
	s.grams = map[string]bool{}
	var look string
	switch s.db.Dialect() {
	case sqldb.SQLite:
		look = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	case sqldb.Postgres:
		look = "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ?"
	default:
		return nil
	}
	var n int
	if err := s.db.QueryRow(ctx, look, runNameGrams).Scan(&n); err != nil {
		return fmt.Errorf("look for the index of run names' trigrams: %w", err)
	}
	if n > 0 {
		s.grams[runNameGrams] = true
	} else if s.db.Dialect() == sqldb.Postgres {
		s.log.Warn("PostgreSQL has no trigram index of run names: a name filter (contains, startswith, endswith) that few runs match reads every run; "+
			"to add it, run as an owner of the database, then restart: CREATE EXTENSION pg_trgm; "+runNameGramsSQL, "index", runNameGrams)
	}
	return nil
}
