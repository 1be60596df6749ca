package workspace

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// A backup is every row of every store table at one schema version. It is
// taken before migrations change a schema that already holds data; when a
// migration fails, the store is rebuilt at the old version and refilled
// from it. dump-file also leaves the backup on disk as JSON.

type backup struct {
	Version int           `json:"version"`
	Dialect string        `json:"dialect"`
	Taken   time.Time     `json:"taken"`
	Tables  []backupTable `json:"tables"`
}

type backupTable struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// migrateWithBackup brings db up to migs, backing it up first as strategy
// says, and restoring the backup if a step fails.
func migrateWithBackup(ctx context.Context, db *sqldb.DB, migs []sqldb.Migration, strategy, dir string, log *slog.Logger) error {
	cur, err := db.Version(ctx, versionTable)
	if err != nil {
		return err
	}
	var b *backup
	if cur > 0 && cur < len(migs) && strategy != BackupDisabled {
		if b, err = takeBackup(ctx, db, cur); err != nil {
			return fmt.Errorf("back up before migrating: %w", err)
		}
		log.Info("backed up the workspace store before migrating", "strategy", strategy, "version", cur, "tables", len(b.Tables))
		if strategy == BackupDumpFile {
			path, err := writeBackup(b, dir)
			if err != nil {
				return fmt.Errorf("write backup: %w", err)
			}
			log.Info("backup written", "file", path)
		}
	}
	if _, err := db.Migrate(ctx, versionTable, migs, log); err != nil {
		if b == nil {
			return err
		}
		log.Error("migration failed: restoring the backup", "err", err)
		if rerr := restoreBackup(ctx, db, b, migs[:b.Version], log); rerr != nil {
			return fmt.Errorf("%w; restoring the backup failed too: %v", err, rerr)
		}
		return fmt.Errorf("%w (the store was restored to schema version %d)", err, b.Version)
	}
	return nil
}

func takeBackup(ctx context.Context, db *sqldb.DB, version int) (*backup, error) {
	b := &backup{Version: version, Dialect: db.Dialect().String(), Taken: time.Now().UTC()}
	for _, t := range storeTables {
		rows, err := db.Query(ctx, "SELECT * FROM "+t)
		if err != nil {
			if isMissing(err) {
				continue // not made yet at this version
			}
			return nil, err
		}
		bt := backupTable{Name: t}
		bt.Columns, err = rows.Columns()
		if err != nil {
			rows.Close()
			return nil, err
		}
		for rows.Next() {
			vals := make([]any, len(bt.Columns))
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					vals[i] = string(bs)
				}
			}
			bt.Rows = append(bt.Rows, vals)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		b.Tables = append(b.Tables, bt)
	}
	return b, nil
}

func isMissing(err error) bool {
	s := err.Error()
	return strings.Contains(s, "no such table") || strings.Contains(s, "does not exist") || strings.Contains(s, "doesn't exist")
}

func writeBackup(b *backup, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("workspace-backup-v%d-%s.json", b.Version, b.Taken.Format("20060102T150405Z")))
	data, err := json.Marshal(b)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path+".tmp", data, 0o600); err != nil {
		return "", err
	}
	return path, os.Rename(path+".tmp", path)
}

// readBackup reads a dump file, numbers back as integers where they are.
func readBackup(path string) (*backup, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var b backup
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("backup %s: %w", path, err)
	}
	for _, t := range b.Tables {
		for _, row := range t.Rows {
			for i, v := range row {
				if n, ok := v.(json.Number); ok {
					if iv, err := n.Int64(); err == nil {
						row[i] = iv
					} else {
						row[i], _ = n.Float64()
					}
				}
			}
		}
	}
	return &b, nil
}

// restoreBackup drops the store's tables, rebuilds the schema of the
// backup's version and refills it.
func restoreBackup(ctx context.Context, db *sqldb.DB, b *backup, migs []sqldb.Migration, log *slog.Logger) error {
	for i := len(storeTables) - 1; i >= 0; i-- {
		if _, err := db.Exec(ctx, "DROP TABLE IF EXISTS "+storeTables[i]); err != nil {
			return err
		}
	}
	if _, err := db.Exec(ctx, "DROP TABLE IF EXISTS "+versionTable); err != nil {
		return err
	}
	if _, err := db.Migrate(ctx, versionTable, migs, log); err != nil {
		return err
	}
	return db.InTx(ctx, func(tx *sqldb.Tx) error {
		for _, t := range b.Tables {
			q := "INSERT INTO " + t.Name + " (" + strings.Join(t.Columns, ", ") + ") VALUES (" + placeholders(len(t.Columns)) + ")"
			for _, row := range t.Rows {
				if _, err := tx.Exec(ctx, q, row...); err != nil {
					return fmt.Errorf("restore %s: %w", t.Name, err)
				}
			}
		}
		return nil
	})
}
