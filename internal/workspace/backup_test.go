package workspace

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// TestBackupRestore: a migration that fails halfway leaves the store as it
// was, data and schema, on every database and with both strategies.
func TestBackupRestore(t *testing.T) {
	broken := append(slices.Clone(migrations), sqldb.Migration{Version: len(migrations) + 1, Name: "broken",
		SQL: "CREATE TABLE later_table (id VARCHAR(36) PRIMARY KEY);\nALTER TABLE projects ADD COLUMN later INTEGER;\nINSERT INTO no_such_table VALUES (1)"})
	for _, strategy := range []string{BackupInMemory, BackupDumpFile} {
		t.Run(strategy, func(t *testing.T) {
			sqldbtest.Each(t, func(t *testing.T, url string) {
				ctx := context.Background()
				cfg := testConfig(t, url)
				_, _, c := testServer(t, cfg)
				f := newFixture(t, c, "kept")
				must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "kept-run", Snapshot: f.snapshot.ID, Project: "kept", Status: "running"}))
				db := sqldbtest.MustOpen(t, url)
				dir := t.TempDir()
				log := slog.New(slog.NewTextHandler(io.Discard, nil))
				err := migrateWithBackup(ctx, db, broken, strategy, dir, log)
				if err == nil || !strings.Contains(err.Error(), "restored") {
					t.Fatalf("want a failed, restored migration, got %v", err)
				}
				if v, _ := db.Version(ctx, versionTable); v != len(migrations) {
					t.Fatalf("schema version %d after restore, want %d", v, len(migrations))
				}
				var n int
				if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM pipeline_runs WHERE name = 'kept-run'").Scan(&n); err != nil || n != 1 {
					t.Fatalf("the run is gone: %d %v", n, err)
				}
				if _, err := db.Exec(ctx, "SELECT later FROM projects"); err == nil {
					t.Fatalf("the broken step's column survived")
				}
				// The server starts again on the restored store, and the old token works.
				_, hs, _ := testServer(t, cfg)
				if _, err := client.NewWorkspace(hs.URL, c.Token(), hs.Client()).GetRun(ctx, must[client.Page[client.Run]](t)(c.ListRuns(ctx, nil)).Items[0].ID, false); err != nil {
					t.Fatalf("after restore: %v", err)
				}
				files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
				if strategy == BackupDumpFile {
					if len(files) != 1 {
						t.Fatalf("dump files: %v", files)
					}
					b, err := readBackup(files[0])
					if err != nil || b.Version != len(migrations) {
						t.Fatalf("dump: %v", err)
					}
				} else if len(files) != 0 {
					t.Fatalf("in-memory wrote files: %v", files)
				}
			})
		})
	}
}

// TestBackupFileRestores: a dump file alone rebuilds a store.
func TestBackupFileRestores(t *testing.T) {
	ctx := context.Background()
	url := sqldbtest.URL(t, "sqlite")
	cfg := testConfig(t, url)
	_, _, c := testServer(t, cfg)
	must[client.Project](t)(c.CreateProject(ctx, client.ProjectRequest{Name: "from-file"}))
	db := sqldbtest.MustOpen(t, url)
	b := must[*backup](t)(takeBackup(ctx, db, len(migrations)))
	path := must[string](t)(writeBackup(b, t.TempDir()))
	read := must[*backup](t)(readBackup(path))
	other := sqldbtest.MustOpen(t, sqldbtest.URL(t, "sqlite"))
	if err := restoreBackup(ctx, other, read, migrations, nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := other.QueryRow(ctx, "SELECT COUNT(*) FROM projects WHERE name = 'from-file'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("restored: %d %v", n, err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("dump file mode: %v %v", st.Mode(), err)
	}
}

// TestMigrateIsIdempotent: migrating a current store changes nothing and
// takes no backup.
func TestMigrateIsIdempotent(t *testing.T) {
	cfg := testConfig(t, sqldbtest.URL(t, "sqlite"))
	cfg.BackupStrategy = BackupDumpFile
	for i := 0; i < 2; i++ {
		if err := Migrate(context.Background(), cfg, nil); err != nil {
			t.Fatal(err)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(cfg.DataDir, "backups", "*")); len(files) != 0 {
		t.Fatalf("backups of a current store: %v", files)
	}
}

// TestStoreTablesAreAllTables: backups dump storeTables.
func TestStoreTablesAreAllTables(t *testing.T) { sqldbtest.TablesListed(t, Schema()) }
