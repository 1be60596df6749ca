package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
)

// mysqlTableCharset is how every table is created on MySQL: in utf8mb4, so
// that any name fits whatever the server's default (MariaDB's own is
// latin1, which refuses a name in Chinese or an emoji), and compared byte
// for byte, as SQLite and PostgreSQL compare them, whatever collation the
// server prefers (MySQL's utf8mb4_0900_ai_ci would make "Café" and "cafe"
// the same name). The connection uses the same collation (url.go).
const mysqlTableCharset = " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

// withTableCharset adds mysqlTableCharset to a CREATE TABLE statement that
// sets no character set itself.
func withTableCharset(stmt string) string {
	if !strings.HasPrefix(strings.ToUpper(stmt), "CREATE TABLE") || strings.Contains(strings.ToUpper(stmt), "CHARSET") {
		return stmt
	}
	return stmt + mysqlTableCharset
}

var createTableRE = regexp.MustCompile(`(?i)CREATE TABLE (?:IF NOT EXISTS )?(\w+)`)

// createdTables is the tables migs create in dialect d.
func createdTables(migs []Migration, d Dialect) []string {
	var names []string
	for _, m := range migs {
		text := m.SQL
		if alt, ok := m.Dialects[d]; ok {
			text = alt
		}
		for _, sub := range createTableRE.FindAllStringSubmatch(text, -1) {
			names = append(names, sub[1])
		}
	}
	return names
}

// convertTables brings those of the store's tables that were made in
// another character set or collation (before Enclave chose one, or by hand)
// to mysqlTableCharset, in place, with their rows: latin1 and utf8mb3 text
// all has a utf8mb4 form, and names that compared alike without case stay
// distinct with case. MariaDB will not change the character set of a
// column that a foreign key joins, even with the checks off, so the
// foreign keys that touch these tables are dropped first and added back
// after, unchecked (they held before). Their definitions are written first
// into the table versionTable_fks, each removed as it is added back, the
// table dropped at the end: a conversion cut short (the process killed, the
// database gone) goes on from there at the next start, instead of losing a
// foreign key. The caller holds the migration lock.
func convertTables(ctx context.Context, conn *sql.Conn, versionTable string, tables []string, log *slog.Logger) error {
	old, err := tablesNotInCharset(ctx, conn, tables)
	if err != nil {
		return err
	}
	saved := versionTable + "_fks"
	fks, err := savedForeignKeys(ctx, conn, saved)
	if err != nil {
		return err
	}
	if len(old) == 0 && fks == nil {
		return nil
	}
	log.Warn("converting tables to utf8mb4 with utf8mb4_bin, once: each is copied, which takes a while for large ones", "tables", strings.Join(old, ", "))
	if len(fks) == 0 && len(old) > 0 {
		if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+saved+
			" (name VARCHAR(64) PRIMARY KEY, tbl VARCHAR(64) NOT NULL, add_stmt TEXT NOT NULL)"+mysqlTableCharset); err != nil {
			return fmt.Errorf("convert tables to utf8mb4: %w", err)
		}
		if fks, err = saveForeignKeys(ctx, conn, saved, old); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION foreign_key_checks = 0"); err != nil {
		return err
	}
	// The connection goes back to the pool afterwards: with the checks on
	// again, or not at all.
	defer func() {
		if _, err := conn.ExecContext(context.Background(), "SET SESSION foreign_key_checks = 1"); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	for _, fk := range fks {
		if err := dropForeignKey(ctx, conn, fk); err != nil {
			return err
		}
	}
	for _, t := range old {
		if _, err := conn.ExecContext(ctx, "ALTER TABLE "+t+" CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
			return fmt.Errorf("convert table %s to utf8mb4: %w", t, err)
		}
	}
	for _, fk := range fks {
		if _, err := conn.ExecContext(ctx, fk.add); err != nil {
			return fmt.Errorf("add back foreign key %s of %s: %w", fk.name, fk.table, err)
		}
		if _, err := conn.ExecContext(ctx, "DELETE FROM "+saved+" WHERE name = ?", fk.name); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, "DROP TABLE "+saved); err != nil {
		return err
	}
	log.Info("tables converted to utf8mb4", "tables", strings.Join(old, ", "), "foreign_keys", len(fks))
	return nil
}

// tablesNotInCharset returns those of the tables, in the connection's
// database, whose default collation or the collation of any of whose
// columns is not that of mysqlTableCharset. A table can have one without
// the other: ALTER TABLE … DEFAULT CHARACTER SET changes the default
// alone, and leaves the columns as they were.
func tablesNotInCharset(ctx context.Context, conn *sql.Conn, tables []string) ([]string, error) {
	in := " AND TABLE_NAME IN (" + marks(len(tables)) + ")"
	rows, err := conn.QueryContext(ctx, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "+
		"AND TABLE_COLLATION <> 'utf8mb4_bin'"+in+" UNION SELECT TABLE_NAME FROM information_schema.COLUMNS "+
		"WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME <> 'utf8mb4_bin'"+in+" ORDER BY TABLE_NAME",
		append(anys(tables), anys(tables)...)...)
	if err != nil {
		return nil, fmt.Errorf("read the tables' character sets: %w", err)
	}
	return scanStrings(rows)
}

// foreignKey is a foreign key of a table, and the statement that makes it.
type foreignKey struct{ name, table, add string }

// savedForeignKeys reads the foreign keys a conversion cut short saved in
// table saved: nil when there is no such table.
func savedForeignKeys(ctx context.Context, conn *sql.Conn, saved string) ([]foreignKey, error) {
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", saved).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	rows, err := conn.QueryContext(ctx, "SELECT name, tbl, add_stmt FROM "+saved+" ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	fks := []foreignKey{}
	for rows.Next() {
		var fk foreignKey
		if err := rows.Scan(&fk.name, &fk.table, &fk.add); err != nil {
			return nil, err
		}
		fks = append(fks, fk)
	}
	return fks, rows.Err()
}

// saveForeignKeys writes into table saved, and returns, every foreign key
// of the database that starts or ends at one of the tables.
func saveForeignKeys(ctx context.Context, conn *sql.Conn, saved string, tables []string) ([]foreignKey, error) {
	in := marks(len(tables))
	rows, err := conn.QueryContext(ctx, "SELECT k.CONSTRAINT_NAME, k.TABLE_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, "+
		"r.UPDATE_RULE, r.DELETE_RULE FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r "+
		"ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "+
		"WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL "+
		"AND (k.TABLE_NAME IN ("+in+") OR k.REFERENCED_TABLE_NAME IN ("+in+")) "+
		"ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION", append(anys(tables), anys(tables)...)...)
	if err != nil {
		return nil, fmt.Errorf("read foreign keys: %w", err)
	}
	type fkCols struct {
		name, table, refTable, onUpdate, onDelete string
		cols, refCols                             []string
	}
	var order []*fkCols
	byKey := map[string]*fkCols{}
	for rows.Next() {
		var name, table, col, refTable, refCol, onUpdate, onDelete string
		if err := rows.Scan(&name, &table, &col, &refTable, &refCol, &onUpdate, &onDelete); err != nil {
			rows.Close()
			return nil, err
		}
		k := table + "." + name
		f := byKey[k]
		if f == nil {
			f = &fkCols{name: name, table: table, refTable: refTable, onUpdate: onUpdate, onDelete: onDelete}
			byKey[k] = f
			order = append(order, f)
		}
		f.cols, f.refCols = append(f.cols, col), append(f.refCols, refCol)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// All saved or none: an empty table means that none was dropped yet.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	var fks []foreignKey
	for _, f := range order {
		add := fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)%s%s",
			f.table, f.name, strings.Join(f.cols, ", "), f.refTable, strings.Join(f.refCols, ", "),
			fkRule("DELETE", f.onDelete), fkRule("UPDATE", f.onUpdate))
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+saved+" (name, tbl, add_stmt) VALUES (?, ?, ?)", f.name, f.table, add); err != nil {
			return nil, fmt.Errorf("save foreign key %s: %w", f.name, err)
		}
		fks = append(fks, foreignKey{name: f.name, table: f.table, add: add})
	}
	return fks, tx.Commit()
}

// fkRule is the clause that gives a foreign key rule on event, none for
// RESTRICT, InnoDB's default: MariaDB records a RESTRICT written out, in a
// key added with the checks off, as NO ACTION (which InnoDB enforces alike).
func fkRule(event, rule string) string {
	if rule == "RESTRICT" {
		return ""
	}
	return " ON " + event + " " + rule
}

// dropForeignKey drops fk if its table still has it.
func dropForeignKey(ctx context.Context, conn *sql.Conn, fk foreignKey) error {
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS "+
		"WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ? AND CONSTRAINT_NAME = ?", fk.table, fk.name).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "ALTER TABLE "+fk.table+" DROP FOREIGN KEY "+fk.name); err != nil {
		return fmt.Errorf("drop foreign key %s of %s: %w", fk.name, fk.table, err)
	}
	return nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
