package sqldb_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/internal/sqldb"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

func TestParseURL(t *testing.T) {
	cases := []struct {
		in      string
		dialect sqldb.Dialect
		name    string
		wantErr string
	}{
		{in: "sqlite:////abs/path.db", dialect: sqldb.SQLite},
		{in: "sqlite:///rel.db", dialect: sqldb.SQLite},
		{in: "sqlite:///:memory:", dialect: sqldb.SQLite},
		{in: "postgresql://u:p@h:5432/db", dialect: sqldb.Postgres, name: "db"},
		{in: "postgres://u:p@h/db?sslmode=disable", dialect: sqldb.Postgres, name: "db"},
		{in: "postgresql+psycopg2://u:p@h/db", dialect: sqldb.Postgres, name: "db"},
		{in: "mysql://root:password@mysql.example.com:3306/zenml1", dialect: sqldb.MySQL, name: "zenml1"},
		{in: "mysql+pymysql://u:p@h/db", dialect: sqldb.MySQL, name: "db"},
		{in: "", wantErr: "empty"},
		{in: "localhost:5432", wantErr: "no scheme"},
		{in: "oracle://u:p@h/db", wantErr: "not supported"},
		{in: "postgresql://u:p@h:5432/", wantErr: "database name"},
		{in: "mysql://u:p@/db", wantErr: "host"},
		{in: "mysql://u:p@h/db?ssl_ca=x", wantErr: "not supported"},
		{in: "sqlite://rel.db", wantErr: "sqlite:///"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			cfg, err := sqldb.ParseURL(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Dialect != c.dialect || cfg.Name != c.name {
				t.Fatalf("got %v %q, want %v %q", cfg.Dialect, cfg.Name, c.dialect, c.name)
			}
		})
	}
}

// A pool's default size depends on where its database runs: on this
// machine it shares the process's cores.
func TestDefaultPoolSize(t *testing.T) {
	local := 2 * runtime.GOMAXPROCS(0)
	cases := []struct {
		url  string
		here bool
		want int
	}{
		{"sqlite:////abs/path.db", false, 8},
		{"postgresql://u:p@localhost:5432/db", true, local},
		{"postgresql://u:p@127.0.0.1:5432/db", true, local},
		{"postgresql://u:p@[::1]:5432/db", true, local},
		{"postgresql://u@h/db?host=/var/run/postgresql", true, local},
		{"postgresql://u:p@db.internal.example:5432/db", false, 20},
		{"postgresql://u:p@10.0.0.7/db", false, 20},
		{"mysql://u:p@127.0.0.1:3306/db", true, local},
		{"mysql://u:p@LocalHost/db", true, local},
		{"mysql://u:p@mysql.example.com:3306/zenml", false, 20},
	}
	for _, c := range cases {
		cfg, err := sqldb.ParseURL(c.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.OnThisMachine(); got != c.here {
			t.Errorf("%s: on this machine = %v, want %v", c.url, got, c.here)
		}
		if got := sqldb.DefaultPoolSize(cfg); got != c.want {
			t.Errorf("%s: default pool = %d, want %d", c.url, got, c.want)
		}
	}
}

// Open sizes the pool by DefaultPoolSize unless told.
func TestOpenSizesThePool(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		cfg, err := sqldb.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range []sqldb.Options{{}, {MaxOpen: 3}} {
			db, err := sqldb.Open(context.Background(), url, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := opts.MaxOpen
			if want == 0 {
				want = sqldb.DefaultPoolSize(cfg)
			}
			if cfg.Dialect == sqldb.SQLite && cfg.Path == "" {
				want = 1
			}
			if got := db.SQL().Stats().MaxOpenConnections; got != want {
				t.Errorf("%+v: pool of %d, want %d", opts, got, want)
			}
			db.Close()
		}
	})
}

// ReleaseIdle closes a SQLite file's idle connections but one (their page
// caches go with them); the pool grows again when asked to, and keeps as
// many as before once idle. Other databases keep their connections.
func TestReleaseIdle(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		cfg, err := sqldb.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Dialect == sqldb.SQLite && cfg.Path == "" {
			t.Skip("one connection in memory")
		}
		ctx := context.Background()
		db, err := sqldb.Open(ctx, url, sqldb.Options{MaxOpen: 4})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		busy := func() {
			var conns []*sql.Conn
			for range 4 {
				c, err := db.SQL().Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			for _, c := range conns {
				c.Close()
			}
		}
		busy()
		if idle := db.SQL().Stats().Idle; idle != 4 {
			t.Fatalf("idle after a busy spell: %d, want 4", idle)
		}
		db.ReleaseIdle()
		want := 1
		if cfg.Dialect != sqldb.SQLite {
			want = 4
		}
		if idle := db.SQL().Stats().Idle; idle != want {
			t.Errorf("idle after ReleaseIdle: %d, want %d", idle, want)
		}
		busy()
		if idle := db.SQL().Stats().Idle; idle != 4 {
			t.Errorf("idle after the next busy spell: %d, want 4", idle)
		}
	})
}

// Aside is a pool of one connection of its own to the same database,
// answering while every connection of the main pool is taken and closing
// its connection after use; in memory it is the pool itself. Close closes
// it too.
func TestAside(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testAside(t, "sqlite:///:memory:") })
	sqldbtest.Each(t, testAside)
}

func testAside(t *testing.T, url string) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, url, sqldb.Options{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	aside := db.Aside()
	if db.Config().Path == "" && db.Dialect() == sqldb.SQLite {
		if aside != db {
			t.Fatal("in memory: Aside is not the pool itself")
		}
		db.Close()
		return
	}
	if aside == db || db.Aside() != aside {
		t.Fatal("Aside is the main pool, or a new pool on every call")
	}
	if got := aside.SQL().Stats().MaxOpenConnections; got != 1 {
		t.Fatalf("Aside's pool: %d connections, want 1", got)
	}
	if _, err := db.Exec(ctx, "CREATE TABLE aside_probe (n INTEGER)"); err != nil {
		t.Fatal(err)
	}
	held, err := db.SQL().Conn(ctx) // the main pool's only connection
	if err != nil {
		t.Fatal(err)
	}
	var n int
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := aside.QueryRow(wctx, "SELECT COUNT(*) FROM aside_probe").Scan(&n); err != nil || n != 0 {
		t.Fatalf("Aside with the main pool taken: %d, %v", n, err)
	}
	if idle := aside.SQL().Stats().Idle; idle != 0 {
		t.Fatalf("Aside keeps %d connections open after use, want 0", idle)
	}
	held.Close()
	if _, err := db.Exec(ctx, "DROP TABLE aside_probe"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := aside.QueryRow(ctx, "SELECT 1").Scan(&n); err == nil {
		t.Fatal("Aside still answers after Close")
	}
}

func TestParseURLKeepsPasswordOutOfErrors(t *testing.T) {
	_, err := sqldb.ParseURL("postgresql://u:hunter2@h:5432/")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v: want an error without the password", err)
	}
}

func TestBuildURLEscapes(t *testing.T) {
	u, err := sqldb.BuildURL("mysql", "db.internal", "3306", "app", "p@ss:w/rd", "zenml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sqldb.ParseURL(u)
	if err != nil {
		t.Fatalf("built URL %q does not parse: %v", u, err)
	}
	if !strings.Contains(cfg.DSN, "app:p@ss:w/rd@tcp(db.internal:3306)/zenml") {
		t.Fatalf("DSN %q lost the password", cfg.DSN)
	}
	w, err := sqldb.WithCredentials("postgresql://old:old@h:5432/db", "", "n#w")
	if err != nil || w != "postgresql://old:n%23w@h:5432/db" {
		t.Fatalf("WithCredentials = %q, %v", w, err)
	}
}

func TestRebind(t *testing.T) {
	got := sqldb.Rebind(sqldb.Postgres, "SELECT a FROM t WHERE b = ? AND c = '?' AND d IN (?, ?)")
	want := "SELECT a FROM t WHERE b = $1 AND c = '?' AND d IN ($2, $3)"
	if got != want {
		t.Fatalf("got %q", got)
	}
	if sqldb.Rebind(sqldb.MySQL, "x = ?") != "x = ?" {
		t.Fatal("mysql query changed")
	}
}

var testMigrations = []sqldb.Migration{
	{Version: 1, Name: "things", SQL: `
CREATE TABLE things (id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, body BLOBTEXT, created BIGINT NOT NULL);
CREATE UNIQUE INDEX things_name ON things (name)`},
	{Version: 2, Name: "things flag", SQL: `ALTER TABLE things ADD COLUMN flag BOOLEAN NOT NULL DEFAULT FALSE`},
}

func TestMigrateAndErrors(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db := sqldbtest.MustOpen(t, url)
		n, err := db.Migrate(ctx, "test_schema", testMigrations, nil)
		if err != nil || n != 2 {
			t.Fatalf("Migrate = %d, %v", n, err)
		}
		if n, err := db.Migrate(ctx, "test_schema", testMigrations, nil); err != nil || n != 0 {
			t.Fatalf("second Migrate = %d, %v; want nothing to do", n, err)
		}
		if v, _ := db.Version(ctx, "test_schema"); v != 2 {
			t.Fatalf("version %d", v)
		}
		// A binary that knows fewer migrations refuses a newer schema.
		if _, err := db.Migrate(ctx, "test_schema", testMigrations[:1], nil); err == nil || !strings.Contains(err.Error(), "newer") {
			t.Fatalf("older binary: err = %v", err)
		}

		long := strings.Repeat("x", 100_000) // over MySQL's TEXT limit
		if _, err := db.Exec(ctx, "INSERT INTO things (id, name, body, created, flag) VALUES (?, ?, ?, ?, ?)", "1", "a", long, sqldb.Now(), true); err != nil {
			t.Fatal(err)
		}
		_, err = db.Exec(ctx, "INSERT INTO things (id, name, body, created) VALUES (?, ?, ?, ?)", "2", "a", "", sqldb.Now())
		if !sqldb.IsUniqueViolation(err) {
			t.Fatalf("duplicate name: err = %v, want a unique violation", err)
		}
		var body string
		var flag bool
		if err := db.QueryRow(ctx, "SELECT body, flag FROM things WHERE id = ?", "1").Scan(&body, &flag); err != nil {
			t.Fatal(err)
		}
		if len(body) != len(long) || !flag {
			t.Fatalf("read back %d bytes, flag %v", len(body), flag)
		}

		// A failed transaction leaves nothing behind.
		boom := errors.New("boom")
		err = db.InTx(ctx, func(tx *sqldb.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO things (id, name, created) VALUES (?, ?, ?)", "3", "c", sqldb.Now()); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx err = %v", err)
		}
		var count int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM things").Scan(&count); err != nil || count != 1 {
			t.Fatalf("count = %d, %v; want 1 after rollback", count, err)
		}
	})
}

func TestMigrateConcurrently(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := sqldb.Open(context.Background(), url, sqldb.Options{})
				if err != nil {
					errs[i] = err
					return
				}
				defer db.Close()
				_, errs[i] = db.Migrate(context.Background(), "test_schema", testMigrations, nil)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("concurrent migrate: %v", err)
			}
		}
	})
}

// A table made by a migration keeps any name and tells names apart as
// SQLite and PostgreSQL do, whatever the MySQL server's default character
// set (the tests' MariaDB keeps latin1, its own default).
func TestMigratedTablesHoldAnyName(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db := sqldbtest.MustOpen(t, url)
		if _, err := db.Migrate(ctx, "test_schema", testMigrations, nil); err != nil {
			t.Fatal(err)
		}
		names := []string{"训练流水线", "run-😀", "Café", "cafe", "CAFÉ", "Train", "train"}
		for i, name := range names {
			if _, err := db.Exec(ctx, "INSERT INTO things (id, name, created) VALUES (?, ?, ?)", strconv.Itoa(i), name, sqldb.Now()); err != nil {
				t.Fatalf("insert %q: %v", name, err)
			}
		}
		for i, name := range names {
			var got string
			var n int
			if err := db.QueryRow(ctx, "SELECT name FROM things WHERE id = ?", strconv.Itoa(i)).Scan(&got); err != nil || got != name {
				t.Fatalf("read %q back as %q, %v", name, got, err)
			}
			if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM things WHERE name = ?", name).Scan(&n); err != nil || n != 1 {
				t.Fatalf("%d rows named %q, %v; want 1", n, name, err)
			}
		}
	})
}

// legacyMigrations make tables as they were made on MySQL before their
// character set was chosen (in the server's default, latin1 here), joined
// by foreign keys.
var legacyMigrations = []sqldb.Migration{{Version: 1, Name: "legacy", SQL: `
CREATE TABLE parents (id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL) DEFAULT CHARSET=latin1;
CREATE TABLE children (id VARCHAR(36) PRIMARY KEY, parent_id VARCHAR(36) NOT NULL, other_id VARCHAR(36), kept_id VARCHAR(36),
  CONSTRAINT children_parent FOREIGN KEY (parent_id) REFERENCES parents (id) ON DELETE CASCADE,
  CONSTRAINT children_other FOREIGN KEY (other_id) REFERENCES parents (id) ON DELETE SET NULL,
  CONSTRAINT children_kept FOREIGN KEY (kept_id) REFERENCES parents (id)) DEFAULT CHARSET=latin1`}}

// On MySQL, tables of another character set are converted in place when
// the store starts, their rows and foreign keys kept; a conversion cut
// short after it dropped a foreign key goes on from where it was; a table
// whose default alone was changed by hand has its columns converted.
func TestMySQLTablesConvertedInPlace(t *testing.T) {
	for _, how := range []string{"whole", "cut short", "default alone"} {
		t.Run(how, func(t *testing.T) { testConvertedInPlace(t, how) })
	}
}

func testConvertedInPlace(t *testing.T, how string) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db := sqldbtest.MustOpen(t, url)
		if db.Dialect() != sqldb.MySQL {
			t.Skip("MySQL alone has tables in a character set of their own")
		}
		if _, err := db.Migrate(ctx, "legacy_schema", legacyMigrations, nil); err != nil {
			t.Fatal(err)
		}
		for _, stmt := range []string{
			"INSERT INTO parents (id, name) VALUES ('p1', 'Café'), ('p2', 'cafe')",
			"INSERT INTO children (id, parent_id, other_id) VALUES ('c1', 'p1', 'p2'), ('c2', 'p2', NULL)",
		} {
			if _, err := db.Exec(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Exec(ctx, "INSERT INTO parents (id, name) VALUES ('p3', '😀')"); err == nil {
			t.Fatal("a latin1 table took an emoji: the test no longer makes a legacy table")
		}
		switch how {
		case "default alone":
			if _, err := db.Exec(ctx, "ALTER TABLE parents DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
				t.Fatal(err)
			}
		case "cut short":
			// A conversion cut short: both foreign keys saved, one dropped.
			for _, stmt := range []string{
				"CREATE TABLE legacy_schema_fks (name VARCHAR(64) PRIMARY KEY, tbl VARCHAR(64) NOT NULL, add_stmt TEXT NOT NULL)",
				"INSERT INTO legacy_schema_fks VALUES ('children_parent', 'children', 'ALTER TABLE children ADD CONSTRAINT children_parent " +
					"FOREIGN KEY (parent_id) REFERENCES parents (id) ON DELETE CASCADE'), " +
					"('children_other', 'children', 'ALTER TABLE children ADD CONSTRAINT children_other " +
					"FOREIGN KEY (other_id) REFERENCES parents (id) ON DELETE SET NULL'), " +
					"('children_kept', 'children', 'ALTER TABLE children ADD CONSTRAINT children_kept " +
					"FOREIGN KEY (kept_id) REFERENCES parents (id)')",
				"ALTER TABLE children DROP FOREIGN KEY children_parent",
			} {
				if _, err := db.Exec(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
		}

		var logged bytes.Buffer
		if _, err := db.Migrate(ctx, "legacy_schema", legacyMigrations, slog.New(slog.NewTextHandler(&logged, nil))); err != nil {
			t.Fatalf("Migrate: %v; log:\n%s", err, logged.String())
		}
		if !strings.Contains(logged.String(), "tables converted to utf8mb4") {
			t.Fatalf("no conversion logged:\n%s", logged.String())
		}
		rows, err := db.Query(ctx, "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME")
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		for rows.Next() {
			var name, coll string
			if err := rows.Scan(&name, &coll); err != nil {
				t.Fatal(err)
			}
			tables = append(tables, name+" "+coll)
		}
		rows.Close()
		if want := []string{"children utf8mb4_bin", "legacy_schema utf8mb4_bin", "parents utf8mb4_bin"}; !slices.Equal(tables, want) {
			t.Fatalf("tables %q, want %q (the saved foreign keys' table dropped)", tables, want)
		}
		var odd int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME <> 'utf8mb4_bin'").Scan(&odd); err != nil || odd != 0 {
			t.Fatalf("%d columns in another collation, %v", odd, err)
		}
		rows, err = db.Query(ctx, "SELECT CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY CONSTRAINT_NAME")
		if err != nil {
			t.Fatal(err)
		}
		var fks []string
		for rows.Next() {
			var name, onDelete, onUpdate string
			if err := rows.Scan(&name, &onDelete, &onUpdate); err != nil {
				t.Fatal(err)
			}
			fks = append(fks, name+" "+onDelete+" "+onUpdate)
		}
		rows.Close()
		// As the legacy tables were made: RESTRICT where no rule was given.
		if want := []string{"children_kept RESTRICT RESTRICT", "children_other SET NULL RESTRICT", "children_parent CASCADE RESTRICT"}; !slices.Equal(fks, want) {
			t.Fatalf("foreign keys %q, want %q", fks, want)
		}
		var name string
		if err := db.QueryRow(ctx, "SELECT name FROM parents WHERE id = 'p1'").Scan(&name); err != nil || name != "Café" {
			t.Fatalf("p1 named %q, %v", name, err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO parents (id, name) VALUES ('p3', '😀')"); err != nil {
			t.Fatalf("an emoji after the conversion: %v", err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO children (id, parent_id) VALUES ('c3', 'nobody')"); !sqldb.IsForeignKeyViolation(err) {
			t.Fatalf("a child of no parent: err = %v, want a foreign key violation (checks back on)", err)
		}
		if _, err := db.Exec(ctx, "DELETE FROM parents WHERE id = 'p2'"); err != nil {
			t.Fatal(err)
		}
		var n int
		var other sql.NullString
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM children WHERE id = 'c2'").Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d children of a deleted parent, %v; want the cascade", n, err)
		}
		if err := db.QueryRow(ctx, "SELECT other_id FROM children WHERE id = 'c1'").Scan(&other); err != nil || other.Valid {
			t.Fatalf("other_id %v, %v; want it set to NULL", other, err)
		}

		logged.Reset()
		if _, err := db.Migrate(ctx, "legacy_schema", legacyMigrations, slog.New(slog.NewTextHandler(&logged, nil))); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logged.String(), "convert") {
			t.Fatalf("converted again:\n%s", logged.String())
		}
	})
}
