package workspace

import (
	"context"
	"sync"
	"testing"
	"time"

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
