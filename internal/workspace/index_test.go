package workspace

import (
	"context"
	"net/url"
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
			if f.byCreated {
				p := strings.ReplaceAll(plan("SELECT id FROM "+sp.table+" WHERE "+f.col+" = ? ORDER BY created DESC, id DESC LIMIT 20"), "?", "")
				if strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, "INDEX") {
					t.Errorf("%s: %s is marked byCreated, but its rows are not read in creation order from an index: %s", sp.table, name, p)
				}
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

// TestPlanFitsAnyValue: PostgreSQL keeps one plan for a list only where the
// best plan does not depend on the values asked for.
func TestPlanFitsAnyValue(t *testing.T) {
	for q, want := range map[string]bool{
		"":                                       true,
		"sort_by=desc:created":                   true,
		"status=running":                         true,
		"pipeline_id=" + testUUID:                true,
		"created=lt:2024-01-01T00:00:00":         true,
		"created=gte:2024-01-01T00:00:00":        true,
		"sort_by=name":                           false,
		"sort_by=updated":                        false,
		"status=running&sort_by=asc:name":        false,
		"status=notequals:running":               false,
		"status=oneof:running,failed":            false,
		"name=contains:x":                        false,
		"start_time=gt:2024-01-01T00:00:00":      false,
		"orchestrator_run_id=x":                  false,
		"status=running&pipeline_id=" + testUUID: false,
		"created=notequals:2024-01-01T00:00:00":  false,
	} {
		v, err := url.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		lq, err := parseList(v, runSpec)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got := lq.planFitsAnyValue(); got != want {
			t.Errorf("%q: planFitsAnyValue = %v, want %v", q, got, want)
		}
	}
	lq, _ := parseList(url.Values{"status": {"running"}}, runSpec)
	if lq.addScope("project_id = ?", testUUID); lq.planFitsAnyValue() {
		t.Error("a filter and a project: one plan kept")
	}
}

const testUUID = "0a1b2c3d-0000-4000-8000-000000000001"
