package sqldb

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Schema describes one server's store to Dump and Restore.
type Schema struct {
	Name         string // "controlplane", "workspace"
	VersionTable string
	// Tables lists every table, each after the tables it refers to.
	Tables     []string
	Migrations []Migration
}

// dumpFormat names the format of a dump: JSON lines, a header, then for each
// table a line naming its columns followed by one JSON array per row, then an
// end line with the row count, so that a truncated file is refused.
const dumpFormat = "enclave-dump/1"

type dumpHeader struct {
	Format  string    `json:"format"`
	Schema  string    `json:"schema"`
	Version int       `json:"version"`
	Dialect string    `json:"dialect"`
	Taken   time.Time `json:"taken"`
}

var notADump = fmt.Errorf("not an Enclave dump (want format %s)", dumpFormat)

// check says whether a dump with header h restores into schema s.
func (h dumpHeader) check(s Schema) error {
	switch {
	case h.Format != dumpFormat:
		return notADump
	case h.Schema != s.Name:
		return fmt.Errorf("the dump holds a %s store, not a %s store", h.Schema, s.Name)
	case h.Version < 1 || h.Version > len(s.Migrations):
		return fmt.Errorf("the dump's schema version %d is not one this binary knows (1 to %d)", h.Version, len(s.Migrations))
	}
	return nil
}

// CheckDumpHeader reads the header of the dump br holds without consuming
// it, and says whether the dump restores into schema s: a restore can
// refuse a file before it touches (or creates) a database.
func CheckDumpHeader(br *bufio.Reader, s Schema) error {
	for n := 512; ; n *= 2 {
		b, err := br.Peek(n)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			var h dumpHeader
			if json.Unmarshal(b[:i], &h) != nil {
				return notADump
			}
			return h.check(s)
		}
		if err != nil || n >= 64<<10 {
			return notADump // no line, or a first line longer than any header
		}
	}
}

type dumpLine struct {
	Table   string   `json:"table,omitempty"`
	Columns []string `json:"columns,omitempty"`
	End     bool     `json:"end,omitempty"`
	Rows    int64    `json:"rows,omitempty"`
}

// Dump writes every row of the schema's tables to w, from one consistent
// snapshot of the database, in a form any of the three dialects can restore.
// It returns the number of rows written.
func (db *DB) Dump(ctx context.Context, s Schema, w io.Writer) (int64, error) {
	opts := &sql.TxOptions{ReadOnly: db.dialect != SQLite, Isolation: sql.LevelRepeatableRead}
	if db.dialect == SQLite {
		opts.Isolation = sql.LevelDefault
	}
	tx, err := db.sql.BeginTx(ctx, opts)
	if err != nil {
		return 0, fmt.Errorf("begin snapshot: %w", err)
	}
	defer tx.Rollback()
	var version sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT MAX(version) FROM "+s.VersionTable).Scan(&version); err != nil {
		return 0, fmt.Errorf("read the schema version (is this a %s database?): %w", s.Name, err)
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(dumpHeader{Format: dumpFormat, Schema: s.Name, Version: int(version.Int64), Dialect: db.dialect.String(), Taken: time.Now().UTC()}); err != nil {
		return 0, err
	}
	var total int64
	for _, t := range s.Tables {
		n, err := dumpTable(ctx, tx, t, enc)
		if err != nil {
			return total, fmt.Errorf("table %s: %w", t, err)
		}
		total += n
	}
	if err := enc.Encode(dumpLine{End: true, Rows: total}); err != nil {
		return total, err
	}
	return total, bw.Flush()
}

func dumpTable(ctx context.Context, tx *sql.Tx, table string, enc *json.Encoder) (int64, error) {
	rows, err := tx.QueryContext(ctx, "SELECT * FROM "+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return 0, err
	}
	isBool := make([]bool, len(cols))
	for i, ct := range types {
		switch strings.ToUpper(ct.DatabaseTypeName()) {
		case "BOOL", "BOOLEAN", "TINYINT":
			isBool[i] = true
		}
	}
	if err := enc.Encode(dumpLine{Table: table, Columns: cols}); err != nil {
		return 0, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i, v := range vals {
			switch x := v.(type) {
			case []byte:
				vals[i] = string(x)
			case int64:
				if isBool[i] {
					vals[i] = x != 0
				}
			}
		}
		if err := enc.Encode(vals); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// Restore fills an empty database from a dump of the same schema, taken by
// any dialect: it creates the schema at the dump's version, inserts every row
// in one transaction, then migrates to the newest version. A truncated or
// foreign dump is refused and leaves no rows behind.
func (db *DB) Restore(ctx context.Context, s Schema, r io.Reader) (int64, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 256<<10))
	dec.UseNumber()
	var h dumpHeader
	if err := dec.Decode(&h); err != nil {
		return 0, notADump
	}
	if err := h.check(s); err != nil {
		return 0, err
	}
	if cur, err := db.Version(ctx, s.VersionTable); err != nil {
		return 0, err
	} else if cur != 0 {
		return 0, errors.New("the target database is not empty: restore into a new database")
	}
	before, err := db.tableNames(ctx)
	if err != nil {
		return 0, err
	}
	if _, err := db.Migrate(ctx, s.VersionTable, s.Migrations[:h.Version], nil); err != nil {
		db.dropTablesSince(ctx, s, before)
		return 0, fmt.Errorf("create the schema: %w", err)
	}
	known := map[string]bool{}
	for _, t := range s.Tables {
		known[t] = true
	}
	var total int64
	err = db.InTx(ctx, func(tx *Tx) error {
		var ins *batchInsert
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				if errors.Is(err, io.EOF) {
					return errors.New("the dump is truncated: it has no end line")
				}
				return fmt.Errorf("the dump is damaged after %d rows: %w", total, err)
			}
			if len(raw) > 0 && raw[0] == '[' {
				if ins == nil {
					return errors.New("the dump has a row before any table line")
				}
				var row []any
				if err := json.Unmarshal(raw, &row); err != nil {
					return err
				}
				if err := ins.add(ctx, row); err != nil {
					return err
				}
				total++
				continue
			}
			var line dumpLine
			dl := json.NewDecoder(strings.NewReader(string(raw)))
			dl.DisallowUnknownFields()
			if err := dl.Decode(&line); err != nil {
				return fmt.Errorf("the dump has a line that is neither a row nor a table: %w", err)
			}
			if ins != nil {
				if err := ins.flush(ctx); err != nil {
					return err
				}
			}
			if line.End {
				if line.Rows != total {
					return fmt.Errorf("the dump's end line counts %d rows, but it holds %d", line.Rows, total)
				}
				return nil
			}
			if !known[line.Table] || len(line.Columns) == 0 {
				return fmt.Errorf("the dump names table %q, which the %s schema does not have", line.Table, s.Name)
			}
			if err := checkColumns(ctx, tx, line.Table, line.Columns); err != nil {
				return err
			}
			ins = newBatchInsert(tx, line.Table, line.Columns)
		}
	})
	if err != nil {
		db.dropTablesSince(ctx, s, before)
		return 0, err
	}
	if _, err := db.Migrate(ctx, s.VersionTable, s.Migrations, nil); err != nil {
		return total, fmt.Errorf("migrate the restored store: %w", err)
	}
	return total, nil
}

// dropTablesSince drops the tables a refused restore made: those the
// database has now and had not before, so that it is as empty as it was
// and ready for another try. The schema's tables go first, each before
// those it refers to; then what its migrations made besides (the version
// table, tables derived from others such as SQLite's full-text index),
// shortest name first, so that a virtual table goes before the tables
// that hold its data.
func (db *DB) dropTablesSince(ctx context.Context, s Schema, before []string) {
	ctx = context.WithoutCancel(ctx)
	now, err := db.tableNames(ctx)
	if err != nil {
		return
	}
	had := map[string]bool{}
	for _, t := range before {
		had[strings.ToLower(t)] = true
	}
	made := map[string]bool{}
	for _, t := range now {
		if !had[strings.ToLower(t)] {
			made[strings.ToLower(t)] = true
		}
	}
	var order []string
	for i := len(s.Tables) - 1; i >= 0; i-- {
		if t := strings.ToLower(s.Tables[i]); made[t] {
			order = append(order, t)
			delete(made, t)
		}
	}
	rest := make([]string, 0, len(made))
	for t := range made {
		rest = append(rest, t)
	}
	slices.SortFunc(rest, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) })
	for _, t := range append(order, rest...) {
		_, _ = db.Exec(ctx, "DROP TABLE IF EXISTS "+t)
	}
}

// tableNames lists the tables of the database (its current schema on
// PostgreSQL).
func (db *DB) tableNames(ctx context.Context) ([]string, error) {
	q := map[Dialect]string{
		SQLite:   "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
		Postgres: "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
		MySQL:    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
	}[db.Dialect()]
	rows, err := db.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list the database's tables: %w", err)
	}
	return scanStrings(rows)
}

// checkColumns refuses column names the target table does not have: a dump
// is read from outside, and its names end up in SQL.
func checkColumns(ctx context.Context, tx *Tx, table string, columns []string) error {
	rows, err := tx.Query(ctx, "SELECT * FROM "+table+" WHERE 1 = 0")
	if err != nil {
		return err
	}
	have, err := rows.Columns()
	rows.Close()
	if err != nil {
		return err
	}
	set := map[string]bool{}
	for _, c := range have {
		set[strings.ToLower(c)] = true
	}
	seen := map[string]bool{}
	for _, c := range columns {
		if !set[c] || seen[c] {
			return fmt.Errorf("table %s: the dump names column %q, which the table does not have (or names it twice)", table, c)
		}
		seen[c] = true
	}
	return nil
}

// batchInsert gathers rows into multi-row INSERTs.
type batchInsert struct {
	tx      *Tx
	table   string
	columns []string
	max     int
	args    []any
	n       int
}

func newBatchInsert(tx *Tx, table string, columns []string) *batchInsert {
	max := 30000 / len(columns) // under every dialect's limit of parameters
	if max > 500 {
		max = 500
	}
	return &batchInsert{tx: tx, table: table, columns: columns, max: max}
}

func (b *batchInsert) add(ctx context.Context, row []any) error {
	if len(row) != len(b.columns) {
		return fmt.Errorf("table %s: a row has %d values for %d columns", b.table, len(row), len(b.columns))
	}
	for _, v := range row {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				v = i
			} else if f, err := n.Float64(); err == nil {
				v = f
			} else {
				return fmt.Errorf("table %s: bad number %s", b.table, n)
			}
		}
		switch v.(type) {
		case nil, string, bool, int64, float64:
		default:
			return fmt.Errorf("table %s: a value of type %T cannot be stored", b.table, v)
		}
		b.args = append(b.args, v)
	}
	b.n++
	if b.n >= b.max {
		return b.flush(ctx)
	}
	return nil
}

// marks is n placeholders, separated by commas.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func (b *batchInsert) flush(ctx context.Context) error {
	if b.n == 0 {
		return nil
	}
	one := "(" + marks(len(b.columns)) + ")"
	q := "INSERT INTO " + b.table + " (" + strings.Join(b.columns, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(one+", ", b.n), ", ")
	if _, err := b.tx.Exec(ctx, q, b.args...); err != nil {
		return fmt.Errorf("table %s: %w", b.table, err)
	}
	b.args, b.n = b.args[:0], 0
	return nil
}
