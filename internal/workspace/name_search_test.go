package workspace

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// TestRunNameSearch finds runs by parts of their names, LIKE's own
// characters among them, on all three databases; on PostgreSQL both with
// the trigram index of names and without it, with the same answers.
func TestRunNameSearch(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		srv, _, c := testServer(t, testConfig(t, url))
		check := nameSearch(t, c)
		if srv.db.Dialect() == sqldb.MySQL {
			if len(srv.store.grams) != 0 {
				t.Fatalf("MariaDB has indexes of substrings: %v", srv.store.grams)
			}
			check(t)
			return
		}
		// PostgreSQL's test server has pg_trgm (Debian's package ships
		// it); SQLite's FTS5 is built into the driver.
		if !srv.store.grams[runNameGrams] {
			t.Fatalf("no %s after the migrations", runNameGrams)
		}
		if srv.db.Dialect() == sqldb.Postgres {
			var opts string
			if err := srv.db.QueryRow(context.Background(), "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = ?", runNameGrams).Scan(&opts); err != nil || opts != "gin_pending_list_limit=512" {
				t.Fatalf("options of %s: %q, %v", runNameGrams, opts, err)
			}
		}
		t.Run("with the index", check)
		srv.store.grams = nil
		srv.store.counts = newCountCache() // the counts above were made the other way
		t.Run("without it", check)
	})
}

// TestRunNameSearchWithoutPgTrgm: where pg_trgm cannot be created (here a
// function of the same name as one of its own is in the way), the
// migrations go on without the index, the server says what to run, names
// are found all the same, and after the operator runs it the index is used.
func TestRunNameSearchWithoutPgTrgm(t *testing.T) {
	url := sqldbtest.URL(t, "postgresql")
	ctx := context.Background()
	db := sqldbtest.MustOpen(t, url)
	if _, err := db.Exec(ctx, "CREATE FUNCTION similarity(text, text) RETURNS real LANGUAGE sql AS 'SELECT 0::real'"); err != nil {
		t.Fatal(err)
	}
	srv, _, c := testServer(t, testConfig(t, url))
	if srv.store.grams[runNameGrams] {
		t.Fatal("the index exists although pg_trgm could not be created")
	}
	var logged strings.Builder
	srv.store.log = slog.New(slog.NewTextHandler(&logged, nil))
	if err := srv.store.findSubstringIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "CREATE EXTENSION pg_trgm; CREATE INDEX IF NOT EXISTS "+runNameGrams+" ON pipeline_runs") {
		t.Fatalf("the warning does not say what to run: %s", logged.String())
	}
	nameSearch(t, c)(t)

	for _, stmt := range []string{"DROP FUNCTION similarity(text, text)", "CREATE EXTENSION pg_trgm", runNameGramsSQL} {
		if _, err := db.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := srv.store.findSubstringIndexes(ctx); err != nil || !srv.store.grams[runNameGrams] {
		t.Fatalf("after the operator's statements: %v %v", srv.store.grams, err)
	}
}

// nameSearch creates runs in a project of their own and returns a check
// that finds them by parts of their names, LIKE's own characters among
// them.
func nameSearch(t *testing.T, c *client.Workspace) func(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, c, "search")
	for _, name := range []string{"Train-50%_off!", "train-50x-off", "eval_nightly", "EVAL-weekly", "a!b", "ab"} {
		must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: name, Snapshot: f.snapshot.ID, Project: "search", Status: "running"}))
	}
	cases := []struct {
		filter string
		want   []string
	}{
		{"contains:50%_", []string{"Train-50%_off!"}},
		{"contains:50", []string{"Train-50%_off!", "train-50x-off"}},
		{"contains:TRAIN-", []string{"Train-50%_off!", "train-50x-off"}},
		{"contains:_", []string{"Train-50%_off!", "eval_nightly"}},
		{"contains:!", []string{"Train-50%_off!", "a!b"}},
		{"contains:a!b", []string{"a!b"}},
		{"contains:nightly", []string{"eval_nightly"}},
		{"contains:ightl", []string{"eval_nightly"}},
		{"contains:zzz", nil},
		{"startswith:eval", []string{"eval_nightly", "EVAL-weekly"}},
		{"startswith:eval_", []string{"eval_nightly"}},
		{"endswith:off!", []string{"Train-50%_off!"}},
		{"endswith:LY", []string{"eval_nightly", "EVAL-weekly"}},
		{"endswith:%", nil},
	}
	return func(t *testing.T) {
		for _, tc := range cases {
			page := must[client.Page[client.Run]](t)(c.ListRuns(ctx, filters("project", "search", "name", tc.filter)))
			var got []string
			for _, r := range page.Items {
				got = append(got, r.Name)
			}
			if !slices.Equal(got, tc.want) || page.Total != int64(len(tc.want)) {
				t.Errorf("name=%s: %v (total %d), want %v", tc.filter, got, page.Total, tc.want)
			}
		}
	}
}

// TestRunNameSearchUsesTheIndex: on PostgreSQL, with statistics of
// 20 000 runs, a fragment that one run holds is found through the
// trigram index, and one that every run holds by walking the index of the
// order; without the trigram index in the query the rare one walks too.
func TestRunNameSearchUsesTheIndex(t *testing.T) {
	url := sqldbtest.URL(t, "postgresql")
	srv, _, c := testServer(t, testConfig(t, url))
	ctx := context.Background()
	f := newFixture(t, c, "plans")
	names := make([]string, 20000)
	for i := range names {
		names[i] = fmt.Sprintf("nightly-%05d-%x", i, i*7919)
	}
	insertRuns(t, srv, f, names)
	if _, err := srv.db.Exec(ctx, "ANALYZE pipeline_runs"); err != nil {
		t.Fatal(err)
	}
	plan := func(filter string, grams map[string]bool) string {
		t.Helper()
		lq, err := parseList(map[string][]string{"name": {filter}, "sort_by": {"desc:created"}, "size": {"50"}}, runSpec)
		if err != nil {
			t.Fatal(err)
		}
		where, args := lq.where(sqldb.Postgres, grams)
		// At 20 000 runs a scan of the whole table is a close third
		// choice for the planner; the test is between the two indexes.
		var out []string
		err = srv.db.InTx(ctx, func(tx *sqldb.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "EXPLAIN SELECT id FROM pipeline_runs"+where+" ORDER BY created DESC, id DESC LIMIT 50", args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					return err
				}
				out = append(out, line)
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, "\n")
	}
	with := map[string]bool{runNameGrams: true}
	if p := plan("contains:00777-", with); !strings.Contains(p, runNameGrams) {
		t.Errorf("a rare fragment, with the index: %s", p)
	}
	if p := plan("contains:nightly", with); strings.Contains(p, runNameGrams) || !strings.Contains(p, "runs_created") {
		t.Errorf("a common fragment, with the index: %s", p)
	}
	if p := plan("contains:00777-", nil); strings.Contains(p, runNameGrams) {
		t.Errorf("a rare fragment, without the index: %s", p)
	}
}

// TestRunNameGramsFollowRuns: on SQLite and PostgreSQL, migration 6 indexes
// the runs made before it, and the index follows runs renamed and deleted
// after (on SQLite by triggers, which the FTS5 table is asked directly).
func TestRunNameGramsFollowRuns(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgresql"} {
		t.Run(dialect, func(t *testing.T) {
			url := sqldbtest.URL(t, dialect)
			ctx := context.Background()
			srv, _, c := testServer(t, testConfig(t, url))
			f := newFixture(t, c, "follow")
			var runs []client.Run
			for _, name := range []string{"alpha-nightly", "beta-weekly", "gamma-nightly"} {
				runs = append(runs, must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: name, Snapshot: f.snapshot.ID, Project: "follow", Status: "running"})))
			}
			srv.Close()

			// Back to the schema before migration 6, the runs kept.
			db := sqldbtest.MustOpen(t, url)
			undo := []string{"DROP INDEX " + runNameGrams}
			if dialect == "sqlite" {
				undo = []string{"DROP TRIGGER runs_name_grams_insert", "DROP TRIGGER runs_name_grams_delete", "DROP TRIGGER runs_name_grams_update", "DROP TABLE runs_name_grams"}
			}
			for _, stmt := range append(undo, "DELETE FROM "+versionTable+" WHERE version >= 6") {
				if _, err := db.Exec(ctx, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			srv, _, c = testServer(t, testConfig(t, url))
			if !srv.store.grams[runNameGrams] {
				t.Fatal("no index after migration 6")
			}
			found := func(fragment string) []string {
				t.Helper()
				page := must[client.Page[client.Run]](t)(c.ListRuns(ctx, filters("project", "follow", "name", "contains:"+fragment)))
				var names []string
				for _, r := range page.Items {
					names = append(names, r.Name)
				}
				return names
			}
			// What the FTS5 table itself finds, without the names tested
			// again (SQLite only).
			indexed := func(fragment string) int {
				t.Helper()
				if dialect != "sqlite" {
					return -1
				}
				var n int
				if err := srv.db.QueryRow(ctx, "SELECT COUNT(*) FROM runs_name_grams WHERE name LIKE ?", "%"+fragment+"%").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if got := found("nightly"); !slices.Equal(got, []string{"alpha-nightly", "gamma-nightly"}) {
				t.Fatalf("runs made before migration 6: %v", got)
			}
			if _, err := srv.db.Exec(ctx, "UPDATE pipeline_runs SET name = ? WHERE id = ?", "alpha-monthly", runs[0].ID); err != nil {
				t.Fatal(err)
			}
			if got := found("nightly"); !slices.Equal(got, []string{"gamma-nightly"}) {
				t.Fatalf("after a rename, the old name: %v", got)
			}
			if got := found("monthly"); !slices.Equal(got, []string{"alpha-monthly"}) {
				t.Fatalf("after a rename, the new name: %v", got)
			}
			if err := c.DeleteRun(ctx, runs[2].ID); err != nil {
				t.Fatal(err)
			}
			if got := found("nightly"); got != nil {
				t.Fatalf("after a delete: %v", got)
			}
			if dialect == "sqlite" {
				if n, m := indexed("nightly"), indexed("monthly"); n != 0 || m != 1 {
					t.Fatalf("the FTS5 table holds %d nightly and %d monthly runs, want 0 and 1", n, m)
				}
			}
			must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "delta-nightly", Snapshot: f.snapshot.ID, Project: "follow", Status: "running"}))
			if got, n := found("nightly"), indexed("nightly"); !slices.Equal(got, []string{"delta-nightly"}) || (dialect == "sqlite" && n != 1) {
				t.Fatalf("a new run: %v, %d in the table", got, n)
			}
		})
	}
}

// insertRuns adds completed runs of f's pipeline with the given names
// straight into the store, a thousand to a statement.
func insertRuns(t *testing.T, srv *Server, f fixture, names []string) {
	t.Helper()
	ctx := context.Background()
	for from := 0; from < len(names); from += 1000 {
		var b strings.Builder
		var args []any
		for i := from; i < min(from+1000, len(names)); i++ {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, 'completed', ?, ?, ?)")
			now := sqldb.Now() + int64(i)
			args = append(args, newID(), names[i], f.project.ID, f.snapshot.ID, f.pipeline.ID, f.stack.ID, nil, int64(i+1), now, now)
		}
		if _, err := srv.db.Exec(ctx, "INSERT INTO pipeline_runs (id, name, project_id, snapshot_id, pipeline_id, stack_id, user_id, status, run_index, created, updated) VALUES "+b.String(), args...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGramsServe: a name fragment more than gramsAtMost runs hold is found
// by walking the index of the sort, one that few runs hold through the
// index of substrings: on SQLite as the FTS5 table's probe tells, on
// PostgreSQL as its planner chooses until the count is kept.
func TestGramsServe(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgresql"} {
		t.Run(dialect, func(t *testing.T) {
			srv, _, c := testServer(t, testConfig(t, sqldbtest.URL(t, dialect)))
			srv.store.counts.bound = 100 // counts over 100 are kept
			ctx := context.Background()
			f := newFixture(t, c, "serve")
			names := make([]string, gramsAtMost+500)
			for i := range names {
				names[i] = fmt.Sprintf("bulk-%05d", i)
			}
			insertRuns(t, srv, f, append(names, "rare-xyz"))
			serves := func(fragment string) bool {
				t.Helper()
				lq, err := parseList(map[string][]string{"name": {"contains:" + fragment}}, runSpec)
				if err != nil {
					t.Fatal(err)
				}
				where, args := lq.where(srv.db.Dialect(), srv.store.grams)
				return srv.store.gramsServe(ctx, srv.store.db, countOf("pipeline_runs", where, args).key, lq)
			}
			list := func(fragment string) client.Page[client.Run] {
				t.Helper()
				return must[client.Page[client.Run]](t)(c.ListRuns(ctx, &client.ListOptions{Size: 2, SortBy: "desc:created", Filters: map[string]string{"name": "contains:" + fragment}}))
			}
			if !serves("rare-x") {
				t.Error("a rare fragment is not found through the index")
			}
			if got := serves("bulk-"); got != (dialect == "postgresql") {
				t.Errorf("a common fragment, its count unknown: served %v", got)
			}
			if p := list("bulk-"); p.Total != int64(len(names)) || p.Items[0].Name != names[len(names)-1] {
				t.Fatalf("common fragment: total %d, first %s", p.Total, p.Items[0].Name)
			}
			if serves("bulk-") {
				t.Error("a common fragment whose count is kept is found through the index")
			}
			if p := list("rare-x"); p.Total != 1 || p.Items[0].Name != "rare-xyz" {
				t.Fatalf("rare fragment: %+v", p)
			}
			if !serves("rare-x") {
				t.Error("a rare fragment, listed, is not found through the index")
			}
		})
	}
}
