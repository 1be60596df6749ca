package workspace

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// After a busy spell and a quiet period the server closes its idle SQLite
// connections but one (their page caches go with them).
func TestIdleReleaseClosesSQLiteConnections(t *testing.T) {
	srv, _, c := testServer(t, testConfig(t, sqldbtest.URL(t, "sqlite")))
	ctx := context.Background()
	pool := srv.db.SQL()
	// Lists read the store on every request; eight at once open several
	// connections (the pool holds up to eight).
	for try := 0; pool.Stats().Idle < 2; try++ {
		if try == 20 {
			t.Skip("the load never held two connections at once")
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 10 {
					if _, err := c.ListRuns(ctx, filters("sort_by", "desc:created")); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go srv.idle.Watch(wctx, 20*time.Millisecond)
	// Counted as open connections, in use or idle: a background reader
	// (the change feed, four times a second) takes an idle one now and
	// then, which an idle count would take for a release. One that it
	// holds while the release runs goes back to the pool after it, idle:
	// then another spell, one request at a time, and another release.
	for spell := 0; pool.Stats().OpenConnections > 1; spell++ {
		if spell == 5 {
			t.Fatalf("open connections after %d quiet periods: %d, want 1", spell, pool.Stats().OpenConnections)
		}
		for deadline := time.Now().Add(time.Second); pool.Stats().OpenConnections > 1 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if pool.Stats().OpenConnections > 1 {
			for range 64 {
				if _, err := c.ListRuns(ctx, filters("sort_by", "desc:created")); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// After a busy spell and a quiet period the server also empties its caches
// of run documents and of runs' owners; a GET then reads the run again.
func TestIdleReleaseEmptiesRunCaches(t *testing.T) {
	srv, _, c := testServer(t, testConfig(t, sqldbtest.URL(t, "sqlite")))
	ctx := context.Background()
	f := newFixture(t, c, "idle")
	run := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "idle", Status: client.StatusRunning}))
	cached := func() (docs, owners int) {
		d := srv.store.docs
		d.mu.Lock()
		docs = len(d.cur) + len(d.prev)
		d.mu.Unlock()
		o := srv.store.owners
		o.mu.Lock()
		defer o.mu.Unlock()
		return docs, len(o.m)
	}
	// Until the change feed has been read, the cache of documents does not
	// answer (nor fill); the test server's watcher reads it at once.
	for deadline := time.Now().Add(5 * time.Second); ; {
		for range 64 {
			must[client.Run](t)(c.GetRun(ctx, run.ID, true))
		}
		if docs, owners := cached(); docs > 0 && owners > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("GETs filled no cache")
		}
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go srv.idle.Watch(wctx, 20*time.Millisecond)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if docs, owners := cached(); docs == 0 && owners == 0 {
			break
		}
		if time.Now().After(deadline) {
			docs, owners := cached()
			t.Fatalf("after a quiet period %d documents and %d owners are cached, want none", docs, owners)
		}
	}
	if got := must[client.Run](t)(c.GetRun(ctx, run.ID, true)); got.ID != run.ID {
		t.Fatalf("GET after the release: %s", got.ID)
	}
}
