package dashboard_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/uptest"
)

// benchRuns is the size of the full workspace.
const benchRuns = 100_000

// BenchmarkRunsPage renders page 1 (50 runs, newest first) of the runs page
// of a workspace holding 100k runs, and the same page of an empty workspace,
// through the whole path a browser takes: dashboard, control plane
// in-process, workspace server over HTTP, SQLite. It reports both times and
// their ratio.
func BenchmarkRunsPage(b *testing.B) {
	ctx := context.Background()
	cp := uptest.StartControlPlane(b)
	admin := cp.Admin(b)
	org, err := admin.CreateOrganization(ctx, "bench", "")
	if err != nil {
		b.Fatal(err)
	}
	var full, empty client.ControlPlaneWorkspace
	var fullWS *uptest.Workspace
	for _, name := range []string{"full", "empty"} {
		ws, err := admin.CreateWorkspace(ctx, org.ID, name, true)
		if err != nil {
			b.Fatal(err)
		}
		srv := uptest.StartWorkspace(b, cp.URL, ws)
		uptest.WaitReported(b, admin, ws.ID)
		if name == "full" {
			full, fullWS = ws, srv
		} else {
			empty = ws
		}
	}
	fillRuns(b, admin, full.ID, fullWS)

	br := newBrowser(b, cp.URL)
	br.login("admin", uptest.AdminPassword)
	hc := br.hc
	get := func(ws string) time.Duration {
		start := time.Now()
		resp, err := hc.Get(cp.URL + "/workspaces/" + ws + "/runs")
		if err != nil {
			b.Fatal(err)
		}
		var sb strings.Builder
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || (ws == full.ID && strings.Count(sb.String(), `<span class="status st-`) != 50) {
			b.Fatalf("runs page: %d\n%s", resp.StatusCode, sb.String())
		}
		return time.Since(start)
	}
	get(full.ID) // log in at both workspaces before timing
	get(empty.ID)
	b.ResetTimer()
	var tFull, tEmpty time.Duration
	for b.Loop() {
		tFull += get(full.ID)
		tEmpty += get(empty.ID)
	}
	n := float64(b.N)
	b.ReportMetric(float64(tFull.Microseconds())/n/1000, "ms/full-page")
	b.ReportMetric(float64(tEmpty.Microseconds())/n/1000, "ms/empty-page")
	b.ReportMetric(float64(tFull)/float64(tEmpty), "full/empty")
}

// fillRuns records one real run through the API, then copies its row 100k
// times in one INSERT ... SELECT on the workspace's database: the API would
// take minutes to create as many, and the page reads them the same way.
func fillRuns(b *testing.B, admin *client.ControlPlane, wsID string, srv *uptest.Workspace) {
	b.Helper()
	ctx := context.Background()
	rec, err := admin.GetWorkspace(ctx, wsID)
	if err != nil {
		b.Fatal(err)
	}
	wc := client.NewWorkspace(rec.Status.URL, "", nil)
	if _, err := wc.LoginExternal(ctx, admin.Token); err != nil {
		b.Fatal(err)
	}
	pr, err := wc.ListProjects(ctx, nil)
	if err != nil || len(pr.Items) == 0 {
		b.Fatalf("projects: %v", err)
	}
	stacks, err := wc.ListStacks(ctx, &client.ListOptions{Filters: map[string]string{"name": "default"}})
	if err != nil || len(stacks.Items) != 1 {
		b.Fatalf("stacks: %v", err)
	}
	p, err := wc.CreatePipeline(ctx, client.PipelineRequest{Name: "bench", Project: pr.Items[0].ID})
	if err != nil {
		b.Fatal(err)
	}
	snap, err := wc.CreateSnapshot(ctx, client.SnapshotRequest{Project: pr.Items[0].ID, Pipeline: p.ID, Stack: stacks.Items[0].ID,
		RunNameTemplate: "bench-{date}", PipelineConfiguration: []byte(`{"name":"bench"}`)})
	if err != nil {
		b.Fatal(err)
	}
	seed, err := wc.CreateRun(ctx, client.RunRequest{Name: "bench-seed", Snapshot: snap.ID, Project: pr.Items[0].ID, Status: client.StatusRunning})
	if err != nil {
		b.Fatal(err)
	}
	_, err = srv.Server.Store().DB().Exec(ctx, `
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
INSERT INTO pipeline_runs (id, name, project_id, user_id, snapshot_id, pipeline_id, stack_id, status,
  orchestrator_run_id, run_index, start_time, end_time, created, updated)
SELECT printf('%08x-0000-4000-8000-%012x', x, x), 'bench-run-' || x, r.project_id, r.user_id, r.snapshot_id,
  r.pipeline_id, r.stack_id, CASE x % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'running' ELSE 'completed' END,
  NULL, x, r.created - (? - x) * 1000000, r.created - (? - x) * 1000000 + 60000000,
  r.created - (? - x) * 1000000, r.created - (? - x) * 1000000
FROM n, (SELECT * FROM pipeline_runs WHERE id = ?) r`, benchRuns, benchRuns, benchRuns, benchRuns, benchRuns, seed.ID)
	if err != nil {
		b.Fatal(err)
	}
	runs, err := wc.ListRuns(ctx, &client.ListOptions{Size: 1})
	if err != nil || runs.Total != benchRuns+1 {
		b.Fatalf("runs: %d, %v", runs.Total, err)
	}
}
