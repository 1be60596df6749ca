package workspace

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

func TestDeriveRunStatus(t *testing.T) {
	const (
		run, done, fail, cached = client.StatusRunning, client.StatusCompleted, client.StatusFailed, client.StatusCached
		stopping, stopped       = client.StatusStopping, client.StatusStopped
	)
	for _, c := range []struct {
		current string
		steps   map[string]int64
		planned int
		want    string
	}{
		{client.StatusInitializing, map[string]int64{run: 1}, 3, run},
		{run, map[string]int64{done: 1}, 3, run},             // fewer steps than planned
		{run, map[string]int64{done: 2, cached: 1}, 3, done}, // all planned steps ended well
		{run, map[string]int64{done: 2, run: 1}, 3, run},
		{run, map[string]int64{done: 1, fail: 1, run: 1}, 3, fail}, // a failure ends it, others running or not
		{run, map[string]int64{done: 4}, 0, done},                  // a snapshot without planned steps
		{run, map[string]int64{done: 2, stopped: 1}, 3, stopped},
		{client.StatusRetrying, map[string]int64{client.StatusRetrying: 1}, 1, run},
		{stopping, map[string]int64{run: 1, done: 1}, 3, stopping},
		{stopping, map[string]int64{done: 1}, 3, stopped}, // nothing left running
		{stopping, map[string]int64{fail: 1}, 3, stopped},
	} {
		if got := deriveRunStatus(c.current, c.steps, c.planned); got != c.want {
			t.Errorf("%s with steps %v of %d: %s, want %s", c.current, c.steps, c.planned, got, c.want)
		}
	}
}

// TestRunStatusFollowsSteps: a run in progress takes its status from its
// steps as they are reported; one that ended keeps how it ended.
func TestRunStatusFollowsSteps(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		_, _, c := testServer(t, testConfig(t, url))
		f := newFixture(t, c, "status") // its snapshot plans two steps
		str := func(s string) *string { return &s }
		newRun := func(name, status string) client.Run {
			return must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: name, Snapshot: f.snapshot.ID, Project: "status", Status: status}))
		}
		step := func(run client.Run, name, status string) client.Step {
			return must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: name, PipelineRunID: run.ID, Status: status}))
		}
		want := func(run client.Run, status string, ended bool) {
			t.Helper()
			got := must[client.Run](t)(c.GetRun(ctx, run.ID, true))
			if got.Body.Status != status || (got.Body.EndTime != nil) != ended || got.Body.StartTime == nil {
				t.Fatalf("run %s: %s, start %v, end %v; want %s, ended %v", run.Name, got.Body.Status, got.Body.StartTime, got.Body.EndTime, status, ended)
			}
		}

		r := newRun("follows", client.StatusInitializing)
		load := step(r, "load", client.StatusRunning)
		want(r, client.StatusRunning, false)
		must[client.Step](t)(c.UpdateStep(ctx, load.ID, client.StepUpdate{Status: str(client.StatusCompleted)}))
		want(r, client.StatusRunning, false) // one of two planned steps
		step(r, "train", client.StatusCached)
		want(r, client.StatusCompleted, true)
		step(r, "late", client.StatusRunning)
		want(r, client.StatusCompleted, true) // ended: a late report changes nothing

		failing := newRun("fails", client.StatusRunning)
		step(failing, "load", client.StatusFailed)
		want(failing, client.StatusFailed, true)

		// Stopped gracefully: stopping until the running step ends.
		st := newRun("stops", client.StatusRunning)
		s1 := step(st, "load", client.StatusRunning)
		if err := c.StopRun(ctx, st.ID, true); err != nil {
			t.Fatal(err)
		}
		want(st, client.StatusStopping, false)
		must[client.Step](t)(c.UpdateStep(ctx, s1.ID, client.StepUpdate{Status: str(client.StatusCompleted)}))
		want(st, client.StatusStopped, true)

		// A status set explicitly has the last word.
		set := newRun("set", client.StatusRunning)
		step(set, "load", client.StatusCompleted)
		must[client.Run](t)(c.UpdateRun(ctx, set.ID, client.RunUpdate{Status: str(client.StatusFailed)}))
		step(set, "train", client.StatusCompleted)
		want(set, client.StatusFailed, true)
	})
}

// TestRunStatusStepsEndingAtOnce: steps of one run that end at the same
// moment leave the run completed, not running: each count of the run's
// steps is taken after its own step committed, so the last sees them all.
func TestRunStatusStepsEndingAtOnce(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		_, _, c := testServer(t, testConfig(t, url))
		f := newFixture(t, c, "race")
		const n = 8
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf("s%d", i))
		}
		snap := snapshotOfSteps(t, c, f, "race", names...)
		for round := range 5 {
			run := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: fmt.Sprintf("wide-%d", round), Snapshot: snap.ID, Project: "race", Status: client.StatusRunning}))
			var ids []string
			for i := range n {
				ids = append(ids, must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: fmt.Sprintf("s%d", i), PipelineRunID: run.ID, Status: client.StatusRunning})).ID)
			}
			completed := client.StatusCompleted
			var wg sync.WaitGroup
			for _, id := range ids {
				wg.Go(func() {
					if _, err := c.UpdateStep(ctx, id, client.StepUpdate{Status: &completed}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if got := must[client.Run](t)(c.GetRun(ctx, run.ID, true)); got.Body.Status != completed {
				t.Fatalf("round %d: run %s after all its steps completed at once", round, got.Body.Status)
			}
			// The same, the steps created completed at once.
			run = must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: fmt.Sprintf("wide-%d-at-once", round), Snapshot: snap.ID, Project: "race", Status: client.StatusRunning}))
			for i := range n {
				wg.Go(func() {
					if _, err := c.CreateStep(ctx, client.StepRequest{Name: fmt.Sprintf("s%d", i), PipelineRunID: run.ID, Status: completed}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if got := must[client.Run](t)(c.GetRun(ctx, run.ID, true)); got.Body.Status != completed {
				t.Fatalf("round %d: run %s after all its steps were created completed at once", round, got.Body.Status)
			}
		}
	})
}

// TestRunStatusesOfAGroup: the runs of a group of steps are read together;
// those in progress follow their steps, those that ended keep how they
// ended, whatever the case of the ids they are named by when counted.
func TestRunStatusesOfAGroup(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv, _, c := testServer(t, testConfig(t, url))
		f := newFixture(t, c, "group")
		snap := snapshotOfSteps(t, c, f, "group", "only")
		newRun := func(name, status string) client.Run {
			return must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: name, Snapshot: snap.ID, Project: "group", Status: status}))
		}
		done, broke, ended, waiting := newRun("done", client.StatusRunning), newRun("broke", client.StatusRunning),
			newRun("ended", client.StatusRunning), newRun("waiting", client.StatusInitializing)
		completed := client.StatusCompleted
		must[client.Run](t)(c.UpdateRun(ctx, ended.ID, client.RunUpdate{Status: &completed}))
		var jobs []*stepJob
		for _, s := range []struct {
			run    client.Run
			status string
		}{{done, client.StatusCompleted}, {broke, client.StatusFailed}, {ended, client.StatusFailed}} {
			jobs = append(jobs, &stepJob{ctx: ctx, userID: s.run.Body.UserID, projectID: s.run.Body.ProjectID,
				req: client.StepRequest{Name: "only", PipelineRunID: s.run.ID, Status: s.status}})
		}
		statuses := func(when string, want map[client.Run]string) {
			t.Helper()
			for run, status := range want {
				if got := must[client.Run](t)(c.GetRun(ctx, run.ID, false)); got.Body.Status != status {
					t.Errorf("%s, run %s: %s, want %s", when, run.Name, got.Body.Status, status)
				}
			}
		}
		// Writing the group sets the statuses of its runs.
		if err := srv.store.writeSteps(ctx, jobs); err != nil {
			t.Fatal(err)
		}
		statuses("after the group", map[client.Run]string{done: client.StatusCompleted, broke: client.StatusFailed,
			ended: client.StatusCompleted, waiting: client.StatusInitializing})
		// Counted again, with a run named twice and one in upper case.
		srv.store.syncRunStatuses(ctx, strings.ToUpper(waiting.ID), broke.ID, ended.ID, broke.ID)
		statuses("counted again", map[client.Run]string{done: client.StatusCompleted, broke: client.StatusFailed,
			ended: client.StatusCompleted, waiting: client.StatusRunning})
	})
}

// TestRunStatusSetFromAStaleCount: a status another writer set between a
// run's count and its update is not overwritten from the older count; the
// run is counted again from the status it has now.
func TestRunStatusSetFromAStaleCount(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv, _, c := testServer(t, testConfig(t, url))
		f := newFixture(t, c, "stale")
		snap := snapshotOfSteps(t, c, f, "stale", "only")
		run := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: snap.ID, Project: "stale", Status: client.StatusRunning}))
		step := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "only", PipelineRunID: run.ID, Status: client.StatusRunning}))
		// The step completes in the database, its run not counted yet.
		if _, err := srv.store.db.Exec(ctx, "UPDATE step_runs SET status = ? WHERE id = ?", client.StatusCompleted, step.ID); err != nil {
			t.Fatal(err)
		}
		live, err := srv.store.liveRunSteps(ctx, srv.store.db, []string{run.ID})
		if err != nil || live[run.ID] == nil || live[run.ID].status != client.StatusRunning {
			t.Fatalf("count before the stop: %v, %v", live, err)
		}
		// Counted as running with its one step completed, the run would
		// complete; a graceful stop comes first.
		if err := c.StopRun(ctx, run.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := srv.store.syncLiveRuns(ctx, live); err != nil {
			t.Fatal(err)
		}
		if got := must[client.Run](t)(c.GetRun(ctx, run.ID, false)); got.Body.Status != client.StatusStopped {
			t.Fatalf("run %s, want stopped: stopping with no step in progress", got.Body.Status)
		}
	})
}

// snapshotOfSteps creates a snapshot of f's pipeline in project that plans
// the steps named.
func snapshotOfSteps(t *testing.T, c *client.Workspace, f fixture, project string, steps ...string) client.Snapshot {
	t.Helper()
	configs := map[string]json.RawMessage{}
	for _, name := range steps {
		configs[name] = json.RawMessage(`{"config":{}}`)
	}
	return must[client.Snapshot](t)(c.CreateSnapshot(context.Background(), client.SnapshotRequest{
		Project: project, Pipeline: f.pipeline.ID, Stack: f.stack.ID, RunNameTemplate: project + "-{date}",
		PipelineConfiguration: json.RawMessage(`{"name":"` + project + `"}`), StepConfigurations: configs,
	}))
}
