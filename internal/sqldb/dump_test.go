package sqldb_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/internal/sqldb"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

var dumpSchema = sqldb.Schema{
	Name:         "test",
	VersionTable: "dump_schema",
	Tables:       []string{"parents", "children"},
	Migrations: []sqldb.Migration{
		{Version: 1, Name: "tables", SQL: `
CREATE TABLE parents (id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, active BOOLEAN NOT NULL, body BLOBTEXT, created BIGINT NOT NULL);
CREATE TABLE children (id VARCHAR(36) PRIMARY KEY, parent_id VARCHAR(36) NOT NULL REFERENCES parents (id), note VARCHAR(100));
CREATE TABLE parent_names (name VARCHAR(255) PRIMARY KEY)`}, // derived from parents, as an index kept by the store: not dumped
		{Version: 2, Name: "index", SQL: `CREATE INDEX children_parent ON children (parent_id)`},
	},
}

type parentRow struct {
	id, name string
	active   bool
	body     string
	created  int64
}

func fillDumpSource(t *testing.T, db *sqldb.DB) []parentRow {
	ctx := context.Background()
	if _, err := db.Migrate(ctx, dumpSchema.VersionTable, dumpSchema.Migrations[:1], nil); err != nil {
		t.Fatal(err)
	}
	rows := []parentRow{
		{"p1", "plain", true, "short", 1},
		{"p2", "ünïcødé \"quoted\" 'single'", false, strings.Repeat("long ", 20000), 1_800_000_000_000_000},
		{"p3", "null body", true, "", -5},
	}
	for _, r := range rows {
		var body any = r.body
		if r.id == "p3" {
			body = nil
		}
		if _, err := db.Exec(ctx, "INSERT INTO parents (id, name, active, body, created) VALUES (?, ?, ?, ?, ?)", r.id, r.name, r.active, body, r.created); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 1200; i++ { // more than one batch
		if _, err := db.Exec(ctx, "INSERT INTO children (id, parent_id, note) VALUES (?, ?, ?)", fmt.Sprintf("c%04d", i), "p1", nil); err != nil {
			t.Fatal(err)
		}
	}
	return rows
}

// TestDumpRestoreAcrossDialects dumps from each dialect and restores into each.
func TestDumpRestoreAcrossDialects(t *testing.T) {
	ctx := context.Background()
	for _, from := range sqldbtest.Dialects {
		for _, to := range sqldbtest.Dialects {
			t.Run(from+"→"+to, func(t *testing.T) {
				src := sqldbtest.MustOpen(t, sqldbtest.URL(t, from))
				want := fillDumpSource(t, src)
				var buf bytes.Buffer
				n, err := src.Dump(ctx, dumpSchema, &buf)
				if err != nil || n != 1203 {
					t.Fatalf("Dump = %d, %v", n, err)
				}
				dst := sqldbtest.MustOpen(t, sqldbtest.URL(t, to))
				got, err := dst.Restore(ctx, dumpSchema, bytes.NewReader(buf.Bytes()))
				if err != nil || got != n {
					t.Fatalf("Restore = %d, %v", got, err)
				}
				if v, _ := dst.Version(ctx, dumpSchema.VersionTable); v != 2 {
					t.Fatalf("restored store at version %d, want migrated to 2", v)
				}
				for _, w := range want {
					var name string
					var active bool
					var body *string
					var created int64
					if err := dst.QueryRow(ctx, "SELECT name, active, body, created FROM parents WHERE id = ?", w.id).Scan(&name, &active, &body, &created); err != nil {
						t.Fatal(err)
					}
					if name != w.name || active != w.active || created != w.created || (w.id == "p3") != (body == nil) || (body != nil && *body != w.body) {
						t.Fatalf("row %s restored as %q %v %v %d", w.id, name, active, body != nil, created)
					}
				}
				var children int
				dst.QueryRow(ctx, "SELECT COUNT(*) FROM children").Scan(&children)
				if children != 1200 {
					t.Fatalf("%d children restored", children)
				}
				// A second restore into the now full database is refused.
				if _, err := dst.Restore(ctx, dumpSchema, bytes.NewReader(buf.Bytes())); err == nil || !strings.Contains(err.Error(), "not empty") {
					t.Fatalf("restore into a full database: %v", err)
				}
			})
		}
	}
}

func TestRestoreRefusesBadDumps(t *testing.T) {
	ctx := context.Background()
	src := sqldbtest.MustOpen(t, sqldbtest.URL(t, "sqlite"))
	fillDumpSource(t, src)
	var buf bytes.Buffer
	if _, err := src.Dump(ctx, dumpSchema, &buf); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n")
	cases := map[string]string{
		"truncated":       strings.Join(lines[:len(lines)/2], "\n"),
		"no end line":     strings.Join(lines[:len(lines)-1], "\n"),
		"a row removed":   strings.Join(append(append([]string{}, lines[:5]...), lines[6:]...), "\n"),
		"not a dump":      "hello",
		"other schema":    strings.Replace(good, `"schema":"test"`, `"schema":"workspace"`, 1),
		"newer version":   strings.Replace(good, `"version":1`, `"version":9`, 1),
		"injected column": strings.Replace(good, `"columns":["id","parent_id","note"]`, `"columns":["id","parent_id","note) VALUES ('x','p1','y'); DROP TABLE parents; --"]`, 1),
		"unknown table":   strings.Replace(good, `"table":"children"`, `"table":"dump_schema"`, 1),
		"wrong arity":     strings.Replace(good, `["p1",`, `["p1","extra",`, 1),
	}
	// The header alone says whether a file may be restored, without
	// consuming it.
	for name, dump := range map[string]string{"not a dump": cases["not a dump"], "other schema": cases["other schema"],
		"newer version": cases["newer version"], "one long line": strings.Repeat("x", 100<<10), "empty": ""} {
		if err := sqldb.CheckDumpHeader(bufio.NewReader(strings.NewReader(dump)), dumpSchema); err == nil {
			t.Errorf("CheckDumpHeader(%s) took it", name)
		}
	}
	br := bufio.NewReader(strings.NewReader(good))
	if err := sqldb.CheckDumpHeader(br, dumpSchema); err != nil {
		t.Fatalf("CheckDumpHeader(good): %v", err)
	}
	if _, err := sqldbtest.MustOpen(t, sqldbtest.URL(t, "sqlite")).Restore(ctx, dumpSchema, br); err != nil {
		t.Fatalf("restore after the header was checked: %v", err)
	}

	refused := func(t *testing.T, url, dump string) {
		dst := sqldbtest.MustOpen(t, url)
		if _, err := dst.Exec(ctx, "CREATE TABLE unrelated (id INTEGER PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
		if _, err := dst.Restore(ctx, dumpSchema, strings.NewReader(dump)); err == nil {
			t.Fatal("restored a bad dump")
		}
		// Nothing stays behind but what was there, and a good dump
		// restores afterwards.
		var left []string
		for _, tb := range []string{"parents", "children", "parent_names", "dump_schema", "unrelated"} {
			if _, err := dst.Exec(ctx, "SELECT 1 FROM "+tb+" WHERE 1 = 0"); err == nil {
				left = append(left, tb)
			}
		}
		if !slices.Equal(left, []string{"unrelated"}) {
			t.Fatalf("tables after a refused restore: %q, want only the one there before", left)
		}
		if _, err := dst.Restore(ctx, dumpSchema, strings.NewReader(good)); err != nil {
			t.Fatalf("good dump after a refused one: %v", err)
		}
	}
	for name, dump := range cases {
		t.Run(name, func(t *testing.T) { refused(t, sqldbtest.URL(t, "sqlite"), dump) })
	}
	t.Run("truncated, every database", func(t *testing.T) {
		sqldbtest.Each(t, func(t *testing.T, url string) { refused(t, url, cases["truncated"]) })
	})
}
