package workspace

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// Stopping a run ends it and its steps in progress at once, or, graceful,
// leaves it stopping for its runner; a run that has ended cannot be stopped.
func TestStopRun(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		_, hs, c := testServer(t, testConfig(t, url))
		f := newFixture(t, c, "stop")
		newRun := func(name string) client.Run {
			return must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: name, Snapshot: f.snapshot.ID, Project: "stop", Status: "running"}))
		}
		run := newRun("now")
		running := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "a", PipelineRunID: run.ID, Status: "running"}))
		done := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "b", PipelineRunID: run.ID, Status: "completed"}))

		if err := c.StopRun(ctx, run.ID, false); err != nil {
			t.Fatal(err)
		}
		got := must[client.Run](t)(c.GetRun(ctx, run.ID, false))
		if got.Body.Status != client.StatusStopped || got.Body.EndTime == nil || got.Body.InProgress {
			t.Fatalf("stopped run: %+v", got.Body)
		}
		if st := must[client.Step](t)(c.GetStep(ctx, running.ID, false)); st.Body.Status != client.StatusStopped || st.Body.EndTime == nil {
			t.Fatalf("its running step: %+v", st.Body)
		}
		if st := must[client.Step](t)(c.GetStep(ctx, done.ID, false)); st.Body.Status != client.StatusCompleted {
			t.Fatalf("its completed step became %s", st.Body.Status)
		}
		err := c.StopRun(ctx, run.ID, false)
		wantStatus(t, err, http.StatusForbidden)
		if !strings.Contains(err.Error(), "already ended") {
			t.Fatalf("stopping it again: %v", err)
		}

		// Graceful: stopping, until its runner (or a later forceful stop) ends it.
		slow := newRun("later")
		for range 2 {
			if err := c.StopRun(ctx, slow.ID, true); err != nil {
				t.Fatal(err)
			}
			if got := must[client.Run](t)(c.GetRun(ctx, slow.ID, false)); got.Body.Status != client.StatusStopping || !got.Body.InProgress {
				t.Fatalf("gracefully stopped run: %+v", got.Body)
			}
		}
		if err := c.StopRun(ctx, slow.ID, false); err != nil {
			t.Fatal(err)
		}
		if got := must[client.Run](t)(c.GetRun(ctx, slow.ID, false)); got.Body.Status != client.StatusStopped {
			t.Fatalf("stopping run stopped: %s", got.Body.Status)
		}

		// Refresh: nothing to ask without a workload manager, but the run
		// must exist and be readable.
		if err := c.RefreshRun(ctx, slow.ID); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, c.RefreshRun(ctx, newID()), http.StatusNotFound)

		other := newRun("other")
		for _, bad := range []struct {
			method, path string
			status       int
		}{
			{"POST", "/api/v1/runs/" + other.ID + "/stop?graceful=maybe", http.StatusUnprocessableEntity},
			{"POST", "/api/v1/runs/" + other.ID + "/stop?force=true", http.StatusUnprocessableEntity},
			{"POST", "/api/v1/runs/" + newID() + "/stop", http.StatusNotFound},
			{"POST", "/api/v1/runs/not-an-id/stop", http.StatusUnprocessableEntity},
			{"POST", "/api/v1/runs/" + other.ID + "/refresh?x=1", http.StatusUnprocessableEntity},
		} {
			code, body := raw(t, hs, c.Token(), bad.method, bad.path, "", "")
			if code != bad.status || !strings.Contains(body, "detail") {
				t.Errorf("%s %s: %d %s, want %d", bad.method, bad.path, code, body, bad.status)
			}
		}
		if got := must[client.Run](t)(c.GetRun(ctx, other.ID, false)); got.Body.Status != client.StatusRunning {
			t.Fatalf("bad stops changed the run: %s", got.Body.Status)
		}

		// A runner's token may not stop its run.
		tok := must[string](t)(c.APIToken(ctx, client.TokenWorkload, 0, other.ID))
		runner := client.NewWorkspace(hs.URL, tok, hs.Client())
		wantStatus(t, runner.StopRun(ctx, other.ID, false), http.StatusForbidden)
	})
}
