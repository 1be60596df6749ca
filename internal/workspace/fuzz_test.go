package workspace

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// FuzzFilter feeds arbitrary query strings to the list parser: it must
// either refuse them as invalid or build SQL whose placeholders match its
// arguments, with values never spliced into the text.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"name=contains:abc", "status=oneof:[\"running\",\"failed\"]", "created=gte:2024-01-01 00:00:00",
		"index=lt:5&sort_by=desc:start_time&logical_operator=or", "id=startswith:0a1b", "name=%27;DROP TABLE x;--",
		"status=in:running,failed", "page=2&size=50&hydrate=true", "name=a&name=b", "orchestrator_run_id=endswith:_!%",
		"start_time=2024-01-01T00:00:00Z", "in_progress=true&tag=x&project=default", "sort_by=asc:", "name=contains:strpos",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lq, err := parseList(q, runSpec)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("%q: error of kind %v: %v", raw, errs.KindOf(err), err)
			}
			return
		}
		for _, d := range []sqldb.Dialect{sqldb.SQLite, sqldb.Postgres, sqldb.MySQL} {
			for _, grams := range []map[string]bool{nil, {runNameGrams: true}} {
				where, args := lq.where(d, grams)
				if n := strings.Count(where, "?"); n != len(args) {
					t.Fatalf("%q: %d placeholders, %d args: %s", raw, n, len(args), where)
				}
				for _, vals := range q {
					for _, v := range vals {
						if len(v) > 3 && strings.Contains(where, v) && !strings.Contains(runSpecColumns, v) {
							t.Fatalf("%q: value spliced into SQL: %s", raw, where)
						}
					}
				}
			}
		}
		if lq.size < 1 || lq.size > maxPageSize || lq.page < 1 {
			t.Fatalf("%q: page %d size %d", raw, lq.page, lq.size)
		}
	})
}

// runSpecColumns is every column text the run list may put into SQL.
var runSpecColumns = func() string {
	var b strings.Builder
	for _, f := range runSpec.fields {
		b.WriteString(f.col + " ")
	}
	return b.String() + ` IN LOWER LIKE ESCAPE AND OR COLLATE "C" ILIKE strpos(lower( (rowid IN (SELECT rowid FROM ` + runNameGrams + ` WHERE `
}()

// fuzzServer is one SQLite-backed server per fuzz target.
func fuzzServer(f *testing.F) (*Server, string, fixture) {
	cfg := testConfig(f, sqldbtest.URL(f, "sqlite"))
	srv, _, c := testServer(f, cfg)
	fx := newFixture(f, c, "fuzz")
	return srv, c.Token(), fx
}

// post sends body straight to the handler and returns the status.
func post(srv *Server, token, path, body string) int {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	return rec.Code
}

// FuzzRunRequest posts arbitrary bodies to /runs: never a 5xx, and a run is
// written only when the answer is 200.
func FuzzRunRequest(f *testing.F) {
	srv, tok, fx := fuzzServer(f)
	for _, s := range []string{
		`{"name":"r","snapshot":"` + fx.snapshot.ID + `","project":"fuzz","status":"running"}`,
		`{"name":"r2","snapshot":"` + fx.snapshot.ID + `","project":"fuzz","status":"initializing","tags":["a","b"],"start_time":"2024-01-01 00:00:00"}`,
		`{"name":"","snapshot":"x"}`, `{"name":"r","snapshot":"` + fx.snapshot.ID + `","status":"running","orchestrator_run_id":"\u0000"}`,
		`[]`, `null`, `{"name":"r","end_time":"2024-13-45T99:99:99"}`, `{"tags":[null]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		before := countRows(t, srv.db, "pipeline_runs")
		code := post(srv, tok, "/api/v1/runs", body)
		if code >= 500 {
			t.Fatalf("%q: status %d", body, code)
		}
		after := countRows(t, srv.db, "pipeline_runs")
		if (code == http.StatusOK) != (after == before+1) || (code != http.StatusOK && after != before) {
			t.Fatalf("%q: status %d, runs %d → %d", body, code, before, after)
		}
	})
}

// FuzzStepRequest posts arbitrary bodies to /steps: never a 5xx, and no
// partial writes (steps, links and parents all or nothing).
func FuzzStepRequest(f *testing.F) {
	srv, tok, fx := fuzzServer(f)
	run := must[client.Run](f)(srv.store.CreateRun(context.Background(), "", fx.project.ID, client.RunRequest{Name: "fz", Snapshot: fx.snapshot.ID, Status: "running"}))
	av := must[client.ArtifactVersion](f)(srv.store.CreateArtifactVersion(context.Background(), "", fx.project.ID, client.ArtifactVersionRequest{ArtifactName: "a", Type: "DataArtifact", URI: "/a"}))
	for _, s := range []string{
		`{"name":"s","pipeline_run_id":"` + run.ID + `","status":"running","inputs":{"x":["` + av.ID + `"]}}`,
		`{"name":"s2","pipeline_run_id":"` + run.ID + `","status":"completed","outputs":{"y":["` + av.ID + `","` + newID() + `"]}}`,
		`{"name":"s3","pipeline_run_id":"` + run.ID + `","status":"running","config":{"a":[1,2,{}]},"spec":null}`,
		`{"inputs":{"":[]}}`, `{"name":"s","pipeline_run_id":"` + run.ID + `","status":"running","parent_step_ids":["` + run.ID + `"]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		counts := func() [3]int {
			return [3]int{countRows(t, srv.db, "step_runs"), countRows(t, srv.db, "step_run_artifacts"), countRows(t, srv.db, "step_run_parents")}
		}
		before := counts()
		code := post(srv, tok, "/api/v1/steps", body)
		if code >= 500 {
			t.Fatalf("%q: status %d", body, code)
		}
		if after := counts(); code != http.StatusOK && after != before {
			t.Fatalf("%q: status %d but rows %v → %v", body, code, before, after)
		}
	})
}

// FuzzTime feeds the wire's time parser.
func FuzzTime(f *testing.F) {
	for _, s := range []string{"2024-01-01 00:00:00", "2024-01-01T00:00:00.123456", "2024-01-01T00:00:00+02:00", "2024-01-01", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := client.ParseTime(s)
		if err != nil {
			return
		}
		again, err := client.ParseTime(client.NewTime(tm).UTC().Format(client.TimeLayout))
		if err != nil || again.UnixMicro() != tm.UnixMicro() {
			t.Fatalf("%q: round trip %v → %v (%v)", s, tm, again, err)
		}
	})
}
