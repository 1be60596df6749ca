package workspace

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb"
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

// benchRun is benchServer with a running run of its fixture.
func benchRun(b *testing.B) (*Server, string, client.Run) {
	b.Helper()
	srv, token, f := benchServer(b)
	run, err := srv.Store().CreateRun(context.Background(), "", f.project.ID, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Status: "running"})
	if err != nil {
		b.Fatal(err)
	}
	return srv, token, run
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

// BenchmarkGetRun: "cached" asks for a run again and again, as polling
// clients do; "read" forgets it before each request, so every GET reads
// the store.
func BenchmarkGetRun(b *testing.B) {
	for _, name := range []string{"cached", "read"} {
		b.Run(name, func(b *testing.B) {
			srv, token, run := benchRun(b)
			h := srv.Handler()
			b.ReportAllocs()
			for b.Loop() {
				if name == "read" {
					srv.store.docs.forget(allRuns)
				}
				serve(b, h, token, "GET", "/api/v1/runs/"+run.ID, "")
			}
		})
	}
}

// BenchmarkListRuns reports the p99 of a page too. "counted" lowers the
// bound of exact counts below the filter's total, so that the total comes
// from the count cache as it does at a million runs.
func BenchmarkListRuns(b *testing.B) {
	for _, counted := range []bool{false, true} {
		name := "exact"
		if counted {
			name = "counted"
		}
		b.Run(name, func(b *testing.B) {
			srv, token, f := benchServer(b)
			if counted {
				srv.Store().counts.bound = 100
			}
			ctx := context.Background()
			for i := range 500 {
				if _, err := srv.Store().CreateRun(ctx, "", f.project.ID, client.RunRequest{Name: "r" + strconv.Itoa(i), Snapshot: f.snapshot.ID, Status: "running"}); err != nil {
					b.Fatal(err)
				}
			}
			h := srv.Handler()
			var took []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				serve(b, h, token, "GET", "/api/v1/runs?size=50&sort_by=desc:created&status=running&pipeline_id="+f.pipeline.ID, "")
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}

func BenchmarkCreateStep(b *testing.B) {
	srv, token, run := benchRun(b)
	h := srv.Handler()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		serve(b, h, token, "POST", "/api/v1/steps", `{"name":"s`+strconv.Itoa(i)+`","pipeline_run_id":"`+run.ID+`","status":"completed","cache_key":"k","code_hash":"h","config":{"a":1}}`)
	}
}

// BenchmarkCreateStepParallel creates steps from 8 goroutines, as the
// load generator of bench/workspace does, each step in a transaction of
// its own ("alone") and, as the server does on SQLite, committed in groups.
func BenchmarkCreateStepParallel(b *testing.B) {
	for _, grouped := range []bool{false, true} {
		name := "alone"
		if grouped {
			name = "grouped"
		}
		b.Run(name, func(b *testing.B) {
			srv, token, f := benchServer(b)
			if !grouped {
				srv.Store().stepGroup = nil
			}
			run, err := srv.Store().CreateRun(context.Background(), "", f.project.ID, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Status: "running"})
			if err != nil {
				b.Fatal(err)
			}
			h := srv.Handler()
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(8 / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					serve(b, h, token, "POST", "/api/v1/steps", `{"name":"s`+strconv.FormatInt(i, 10)+`","pipeline_run_id":"`+run.ID+`","status":"completed","cache_key":"k","code_hash":"h","config":{"a":1}}`)
				}
			})
		})
	}
}

// BenchmarkReadRunFromStore reads runs from a store bench/workspace
// filled, named by ENCLAVE_BENCH_STORE (its -reuse folder, SQLite), each
// as a GET that misses the cache of run documents does (the cache answers
// only while the change feed is watched, which this store's is not): the
// runs of the bench's sample in the order its spread GET asks for them,
// one at a time and 8 at once. Without the variable it is skipped: a store
// of a million runs takes minutes to fill.
func BenchmarkReadRunFromStore(b *testing.B) {
	dir := os.Getenv("ENCLAVE_BENCH_STORE")
	if dir == "" {
		b.Skip("ENCLAVE_BENCH_STORE names no store filled by bench/workspace")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "fixture.json"))
	if err != nil {
		b.Fatal(err)
	}
	var fx struct{ RunIDs []string }
	if err := json.Unmarshal(raw, &fx); err != nil || len(fx.RunIDs) == 0 {
		b.Fatalf("fixture.json: %v, %d runs", err, len(fx.RunIDs))
	}
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite:///"+filepath.Join(dir, "ws.db"), sqldb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := NewStore(db, nil)
	var n atomic.Int64
	read := func() error {
		i := int(n.Add(1))
		// A request's context, which can be cancelled.
		c, cancel := context.WithCancel(ctx)
		defer cancel()
		_, err := s.cachedRun(c, fx.RunIDs[(i*7919)%len(fx.RunIDs)], true)
		return err
	}
	b.Run("one at a time", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := read(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("8 at once", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := read(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
