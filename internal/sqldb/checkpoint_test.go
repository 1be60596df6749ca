package sqldb

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Commits leave the WAL alone (wal_autocheckpoint 0); the pool's
// checkpointer copies it into the database file soon after, while the pool
// stays open, and closing twice is harmless.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := Open(ctx, "sqlite:///"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var auto int
	if err := db.QueryRow(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint = %d, %v; want 0", auto, err)
	}
	if _, err := db.Exec(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, path)
	pad := strings.Repeat("x", 1000)
	for i := range 2000 {
		if _, err := db.Exec(ctx, "INSERT INTO t (v) VALUES (?)", pad); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	// 2 MB went into the WAL; the database file grows only by a checkpoint.
	deadline := time.Now().Add(20 * time.Second)
	for fileSize(t, path) < before+1<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes: nothing checkpointed the WAL", fileSize(t, path))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var n int
	if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 2000 {
		t.Fatalf("rows = %d, %v", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// Under writes that never pause, a passive checkpoint never catches up with
// the WAL's end, and SQLite starts the WAL over only when a write begins
// with all of it copied. Past restartAt a checkpoint round holds the writes
// back for a second copy, so that the next write starts the WAL over; each
// time, the WAL is then small again. Without that, it grows for as long as
// the writes go on.
func TestCheckpointerBoundsTheWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	db, err := Open(ctx, "sqlite:///"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The rounds run here, one at a time: the background one would race
	// them (SQLite runs one checkpoint at a time and answers the other busy).
	db.stopOnce.Do(func() { close(db.stop) })
	<-db.stopped
	db.restartAt = 256 // pages: 1 MiB; a transaction below writes about 20
	// The round must get the writes held back, however long the writer's
	// transaction takes on a busy machine (in production it gives up after
	// restartWait, and the next round tries again).
	db.holdWait = time.Minute
	if _, err := db.Exec(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("y", 3000)
	var commits atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			err := db.InTx(ctx, func(tx *Tx) error {
				for range 20 {
					if _, err := tx.Exec(ctx, "INSERT INTO t (v) VALUES (?)", pad); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				done <- err
				return
			}
			commits.Add(1)
		}
	}()
	walPages := func() int {
		var busy, frames, copied int
		if err := db.QueryRow(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
			t.Fatal(err)
		}
		return frames
	}
	waitCommits := func(n int64) {
		for deadline := time.Now().Add(20 * time.Second); commits.Load() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the writer stopped")
			}
		}
	}
	for round := range 5 {
		// Let the WAL grow past the bound.
		waitCommits(commits.Load() + int64(2*db.restartAt/20))
		db.checkpointRound(ctx)
		// Two commits later the WAL holds those two only.
		waitCommits(commits.Load() + 2)
		if pages := walPages(); pages >= db.restartAt {
			t.Fatalf("round %d: the WAL did not start over: %d pages", round, pages)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}
}
