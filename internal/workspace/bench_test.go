package workspace

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// The hot paths of the API, through the whole handler (middleware,
// authentication, store, encoding) without a network in between, on SQLite.
// bench/workspace measures the same over loopback at a million runs.

func benchServer(b *testing.B) (*Server, string, fixture) {
	b.Helper()
	srv, _, c := testServer(b, testConfig(b, sqldbtest.URL(b, "sqlite")))
	f := newFixture(b, c, "bench")
	return srv, c.Token(), f
}

func serve(b *testing.B, h http.Handler, token, method, path, body string) {
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var req *http.Request
	if rd != nil {
		req = httptest.NewRequest(method, path, rd)
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
	}
}

func BenchmarkGetRun(b *testing.B) {
	srv, token, f := benchServer(b)
	run, err := srv.Store().CreateRun(context.Background(), "", f.project.ID, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Status: "running"})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	b.ReportAllocs()
	for b.Loop() {
		serve(b, h, token, "GET", "/api/v1/runs/"+run.ID, "")
	}
}

func BenchmarkListRuns(b *testing.B) {
	srv, token, f := benchServer(b)
	ctx := context.Background()
	for i := range 500 {
		if _, err := srv.Store().CreateRun(ctx, "", f.project.ID, client.RunRequest{Name: "r" + strconv.Itoa(i), Snapshot: f.snapshot.ID, Status: "running"}); err != nil {
			b.Fatal(err)
		}
	}
	h := srv.Handler()
	b.ReportAllocs()
	for b.Loop() {
		serve(b, h, token, "GET", "/api/v1/runs?size=50&sort_by=desc:created&status=running&pipeline_id="+f.pipeline.ID, "")
	}
}

func BenchmarkCreateStep(b *testing.B) {
	srv, token, f := benchServer(b)
	run, err := srv.Store().CreateRun(context.Background(), "", f.project.ID, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Status: "running"})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		serve(b, h, token, "POST", "/api/v1/steps", `{"name":"s`+strconv.Itoa(i)+`","pipeline_run_id":"`+run.ID+`","status":"completed","cache_key":"k","code_hash":"h","config":{"a":1}}`)
	}
}
