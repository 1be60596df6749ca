package sqldb

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
