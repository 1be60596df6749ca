package workspace

import (
	"context"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// allSpecs are the lists the API offers.
var allSpecs = []*listSpec{userSpec, apiKeySpec, projectSpec, componentSpec, flavorSpec, stackSpec, pipelineSpec,
	snapshotSpec, runSpec, stepSpec, artifactSpec, artifactVersionSpec, modelSpec, modelVersionSpec, secretSpec, tagSpec}

// TestEveryFilterHasAnIndex asks SQLite's planner about every filter and
// sort a list offers: an equality filter must be answered from an index, and
// a sort must read an index in order rather than sort the table.
func TestEveryFilterHasAnIndex(t *testing.T) {
	db := sqldbtest.MustOpen(t, sqldbtest.URL(t, "sqlite"))
	ctx := context.Background()
	if _, err := db.Migrate(ctx, versionTable, migrations, nil); err != nil {
		t.Fatal(err)
	}
	plan := func(q string) string {
		rows, err := db.Query(ctx, "EXPLAIN QUERY PLAN "+q, "x")
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			out = append(out, detail)
		}
		return strings.Join(out, "; ")
	}
	for _, sp := range allSpecs {
		for name, f := range sp.fields {
			if f.kind == kBool {
				continue // two values: an index would not narrow the scan
			}
			p := plan("SELECT id FROM " + sp.table + " WHERE " + f.col + " = ?")
			if !strings.Contains(p, "INDEX") && !strings.Contains(p, "PRIMARY KEY") {
				t.Errorf("%s: filter %s scans the table: %s", sp.table, name, p)
			}
			if f.sort {
				p := strings.ReplaceAll(plan("SELECT id FROM "+sp.table+" WHERE 'x' = ? ORDER BY "+f.col+" DESC, id DESC LIMIT 20"), "?", "")
				if strings.Contains(p, "TEMP B-TREE") {
					t.Errorf("%s: sort by %s sorts the table: %s", sp.table, name, p)
				}
			}
		}
	}
}
