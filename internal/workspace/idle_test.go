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
	deadline := time.Now().Add(5 * time.Second)
	for pool.Stats().Idle > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("idle connections after the quiet period: %d, want 1", pool.Stats().Idle)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
