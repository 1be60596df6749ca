// Package sqldbtest gives tests fresh, empty databases of every dialect the
// machine offers: SQLite always, PostgreSQL and MySQL/MariaDB when
// ENCLAVE_TEST_POSTGRES_URL and ENCLAVE_TEST_MYSQL_URL point at servers whose
// user may create databases (scripts/services.sh starts such servers).
// With ENCLAVE_REQUIRE_SERVICES=1 a missing server fails the test instead of
// skipping it, so CI cannot pass by testing SQLite alone.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// Env names of the admin URLs.
const (
	PostgresEnv = "ENCLAVE_TEST_POSTGRES_URL"
	MySQLEnv    = "ENCLAVE_TEST_MYSQL_URL"
)

// Required reports whether tests must fail rather than skip when a real
// service is missing.
func Required() bool { return os.Getenv("ENCLAVE_REQUIRE_SERVICES") == "1" }

// Dialects lists the dialects to run on, by name, for t.Run.
var Dialects = []string{"sqlite", "postgresql", "mysql"}

// URL returns the URL of a new, empty database of the named dialect, dropped
// when the test ends. It skips (or fails, when required) if the dialect's
// server is not configured.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return "sqlite:///" + filepath.Join(t.TempDir(), "test.db")
	case "postgresql":
		return serverDB(t, PostgresEnv, "postgresql")
	case "mysql":
		return serverDB(t, MySQLEnv, "mysql")
	}
	t.Fatalf("unknown dialect %q", dialect)
	return ""
}

// Each runs fn once per dialect as a subtest, each with a fresh database.
func Each(t *testing.T, fn func(t *testing.T, url string)) {
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) { fn(t, URL(t, d)) })
	}
}

func serverDB(t testing.TB, env, dialect string) string {
	t.Helper()
	admin := os.Getenv(env)
	if admin == "" {
		if Required() {
			t.Fatalf("%s is not set and ENCLAVE_REQUIRE_SERVICES=1", env)
		}
		t.Skipf("%s not set: no %s server for this test", env, dialect)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	ctx := context.Background()
	db, err := sqldb.Open(ctx, admin, sqldb.Options{MaxOpen: 1})
	if err != nil {
		t.Fatalf("connect to %s: %v", dialect, err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sqldb.Open(ctx, admin, sqldb.Options{MaxOpen: 1})
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
			return
		}
		defer db.Close()
		drop := "DROP DATABASE " + name
		if dialect == "postgresql" {
			drop += " WITH (FORCE)"
		}
		if _, err := db.Exec(ctx, drop); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return strings.Replace(u.String(), "postgres://", "postgresql://", 1)
}

// MustOpen opens url for a test and closes it at the end.
func MustOpen(t testing.TB, url string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), url, sqldb.Options{})
	if err != nil {
		t.Fatal(fmt.Errorf("open %s: %w", sqldb.Redact(url), err))
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TablesListed fails unless s.Tables names every table s's migrations make
// (on SQLite), the version table aside: backups dump s.Tables, so a table
// missing there would be missing from every backup.
func TablesListed(t *testing.T, s sqldb.Schema) {
	t.Helper()
	ctx := context.Background()
	db := MustOpen(t, URL(t, "sqlite"))
	if _, err := db.Migrate(ctx, s.VersionTable, s.Migrations, nil); err != nil {
		t.Fatal(err)
	}
	// Virtual tables (an FTS5 index) and their shadow tables are derived
	// from the others and rebuilt by the migrations: not dumped.
	rows, err := db.Query(ctx, "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var made []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		if name != s.VersionTable {
			made = append(made, name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if listed := slices.Sorted(slices.Values(s.Tables)); !slices.Equal(made, listed) {
		t.Fatalf("%s: the migrations make the tables\n%v\nbut Tables lists\n%v", s.Name, made, listed)
	}
}
