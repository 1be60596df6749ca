package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/uptest"
)

func TestWorkspacePagesEmpty(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.login("admin", uptest.AdminPassword)
	ws := "/workspaces/" + e.ws.ID
	for path, want := range map[string]string{
		ws:                 "healthy",
		ws + "/pipelines":  "No pipelines yet",
		ws + "/runs":       "No runs yet",
		ws + "/artifacts":  "No artifacts yet",
		ws + "/models":     "No models yet",
		ws + "/secrets":    "No secrets yet",
		ws + "/stacks":     "default",
		ws + "/components": "<caption>Stack components</caption>",
	} {
		status, body := b.get(path)
		wantPage(t, status, body, http.StatusOK, want)
	}
	status, body := b.get(ws + "/runs/00000000-0000-4000-8000-000000000000")
	wantPage(t, status, body, http.StatusNotFound, "Not found")
}

func TestWorkspacePagesShowARun(t *testing.T) {
	e := newEnv(t)
	e.user(t, "val", "Viewer")
	runID := e.runPipeline(t)
	b := e.browser(t)
	b.login("admin", uptest.AdminPassword)
	ws := "/workspaces/" + e.ws.ID

	status, body := b.get(ws + "/runs")
	wantPage(t, status, body, http.StatusOK, runID, `<span class="status st-ok">completed</span>`, "training")
	if strings.Contains(body, "data-live") {
		t.Fatal("a page of finished runs refreshes itself")
	}
	status, body = b.get(ws + "/runs?status=failed")
	wantPage(t, status, body, http.StatusOK, "No runs match these filters")
	status, body = b.get(ws + "/runs?name=nomatch&sort=name&dir=asc")
	wantPage(t, status, body, http.StatusOK, "No runs match these filters")

	status, body = b.get(ws + "/runs/" + runID)
	wantPage(t, status, body, http.StatusOK, `aria-label="Step load, completed"`, `aria-label="Step evaluate, completed"`,
		`action="`+ws+`/runs/`+runID+`/again"`, "Run again")
	// This workspace has no workload manager: running again says so, on the run's page.
	status, again := b.post(ws+"/runs/"+runID+"/again", url.Values{})
	wantPage(t, status, again, http.StatusNotFound, "running snapshots is not configured", `aria-label="Step load, completed"`)
	// load → train, load → evaluate, train → evaluate.
	if n := strings.Count(body, `class="edge"`); n != 3 {
		t.Fatalf("the graph has %d edges, want 3", n)
	}
	step := regexp.MustCompile(`href="(/workspaces/[^"]+/steps/[^"]+)" class="node st-ok" aria-label="Step train`).FindStringSubmatch(body)
	if step == nil {
		t.Fatalf("no link to the step train:\n%s", body)
	}
	status, body = b.get(step[1])
	wantPage(t, status, body, http.StatusOK, "rows 2", "training.load.data")

	status, body = b.get(ws + "/artifacts")
	wantPage(t, status, body, http.StatusOK, "training.train.model", "training.load.data")
	av := regexp.MustCompile(`href="(/workspaces/[^"]+/artifact-versions/[^"]+)">training.load.data`).FindStringSubmatch(body)
	if av == nil {
		t.Fatal("no link to the artifact version")
	}
	status, body = b.get(av[1])
	wantPage(t, status, body, http.StatusOK, "produced by step", ">load</a>", ">train</a>", ">evaluate</a>")
	if strings.Contains(body, " of run ") {
		t.Fatalf("readers of the producing run are named with a run:\n%s", body)
	}

	status, body = b.get(ws + "/pipelines")
	wantPage(t, status, body, http.StatusOK, "training", `<span class="status st-ok">completed</span>`)

	// A step of a later run reads it too: its run is named.
	ctx := context.Background()
	rec, _ := e.admin.GetWorkspace(ctx, e.ws.ID)
	wc := client.NewWorkspace(rec.Status.URL, "", nil)
	if _, err := wc.LoginExternal(ctx, e.admin.Token); err != nil {
		t.Fatal(err)
	}
	first, err := wc.GetRun(ctx, runID, false)
	if err != nil {
		t.Fatal(err)
	}
	later, err := wc.CreateRun(ctx, client.RunRequest{Name: "reuse-data", Snapshot: first.Body.SnapshotID, Project: first.Body.ProjectID, Status: client.StatusRunning})
	if err != nil {
		t.Fatal(err)
	}
	avID := av[1][strings.LastIndex(av[1], "/")+1:]
	if _, err := wc.CreateStep(ctx, client.StepRequest{Name: "audit", PipelineRunID: later.ID, Status: client.StatusCompleted,
		Inputs: map[string][]string{"data": {avID}}}); err != nil {
		t.Fatal(err)
	}
	status, body = b.get(av[1])
	wantPage(t, status, body, http.StatusOK, ">train</a>", ">audit</a> of run <a href=\""+ws+"/runs/"+later.ID+"\">reuse-data</a>")
}

func TestRunningRunsRefresh(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rec, _ := e.admin.GetWorkspace(ctx, e.ws.ID)
	wc := client.NewWorkspace(rec.Status.URL, "", nil)
	if _, err := wc.LoginExternal(ctx, e.admin.Token); err != nil {
		t.Fatal(err)
	}
	runID := e.runPipeline(t)
	run, err := wc.GetRun(ctx, runID, false)
	if err != nil {
		t.Fatal(err)
	}
	live, err := wc.CreateRun(ctx, client.RunRequest{Name: "still-going", Snapshot: run.Body.SnapshotID, Project: run.Body.ProjectID,
		Status: client.StatusRunning, StartTime: client.TimeOf(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.login("admin", uptest.AdminPassword)
	status, body := b.get("/workspaces/" + e.ws.ID + "/runs")
	wantPage(t, status, body, http.StatusOK, `data-live="3"`, `<span class="status st-run">running</span>`, "refresh</a>")
	status, body = b.get("/workspaces/" + e.ws.ID + "/runs/" + live.ID)
	wantPage(t, status, body, http.StatusOK, `data-live="3"`, "This run has no steps yet.")
}

// A run in progress can be stopped from its page, by those the workspace
// lets update it: gracefully, then at once.
func TestStopARunFromItsPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.user(t, "val", "Viewer")
	rec, _ := e.admin.GetWorkspace(ctx, e.ws.ID)
	wc := client.NewWorkspace(rec.Status.URL, "", nil)
	if _, err := wc.LoginExternal(ctx, e.admin.Token); err != nil {
		t.Fatal(err)
	}
	done, err := wc.GetRun(ctx, e.runPipeline(t), false)
	if err != nil {
		t.Fatal(err)
	}
	run, err := wc.CreateRun(ctx, client.RunRequest{Name: "long-one", Snapshot: done.Body.SnapshotID, Project: done.Body.ProjectID,
		Status: client.StatusRunning, StartTime: client.TimeOf(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	page := "/workspaces/" + e.ws.ID + "/runs/" + run.ID
	form := `action="` + page + `/stop"`

	viewer := e.browser(t)
	viewer.login("val", "val-password")
	status, body := viewer.post(page+"/stop", url.Values{"how": {"now"}})
	wantPage(t, status, body, http.StatusForbidden, "Your role does not allow this")
	if r, _ := wc.GetRun(ctx, run.ID, false); r.Body.Status != client.StatusRunning {
		t.Fatalf("a viewer's stop changed the run to %s", r.Body.Status)
	}

	admin := e.browser(t)
	admin.login("admin", uptest.AdminPassword)
	status, body = admin.get("/workspaces/" + e.ws.ID + "/runs/" + done.ID)
	wantPage(t, status, body, http.StatusOK, ">completed</span>")
	if strings.Contains(body, "Stop now") {
		t.Fatalf("an ended run offers to stop:\n%s", body)
	}
	status, body = admin.get(page)
	wantPage(t, status, body, http.StatusOK, form, "Stop now", "Stop after the current step")
	status, body = admin.post(page+"/stop", url.Values{"how": {"graceful"}})
	wantPage(t, status, body, http.StatusOK, "The run will stop once its current step has finished.", ">stopping</span>", "Stop now")
	if strings.Contains(body, "Stop after the current step") {
		t.Fatalf("a stopping run offers to stop gracefully again:\n%s", body)
	}
	status, body = admin.post(page+"/stop", url.Values{"how": {"now"}})
	wantPage(t, status, body, http.StatusOK, "Run stopped.", ">stopped</span>")
	if strings.Contains(body, form) {
		t.Fatalf("a stopped run offers to stop:\n%s", body)
	}
	if r, _ := wc.GetRun(ctx, run.ID, false); r.Body.Status != client.StatusStopped || r.Body.EndTime == nil {
		t.Fatalf("run after the stop: %+v", r.Body)
	}
}

func TestSecretValuesOnlyWhenAllowed(t *testing.T) {
	e := newEnv(t)
	e.user(t, "val", "Viewer")
	ctx := context.Background()
	rec, _ := e.admin.GetWorkspace(ctx, e.ws.ID)
	wc := client.NewWorkspace(rec.Status.URL, "", nil)
	if _, err := wc.LoginExternal(ctx, e.admin.Token); err != nil {
		t.Fatal(err)
	}
	sec, err := wc.CreateSecret(ctx, client.SecretRequest{Name: "registry", Values: map[string]string{"password": "hunter2-value"}})
	if err != nil {
		t.Fatal(err)
	}
	path := "/workspaces/" + e.ws.ID + "/secrets"

	admin := e.browser(t)
	admin.login("admin", uptest.AdminPassword)
	status, body := admin.get(path)
	wantPage(t, status, body, http.StatusOK, "registry", "password")
	if strings.Contains(body, "hunter2-value") {
		t.Fatal("the list shows a secret value")
	}
	status, body = admin.get(path + "/" + sec.ID)
	wantPage(t, status, body, http.StatusOK, "hunter2-value")

	viewer := e.browser(t)
	viewer.login("val", "val-password")
	status, body = viewer.get(path + "/" + sec.ID)
	if status == http.StatusOK && strings.Contains(body, "hunter2-value") {
		t.Fatal("a viewer sees a secret value")
	}
}
