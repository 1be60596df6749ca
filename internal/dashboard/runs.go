package dashboard

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/enclave-mlops/enclave/client"
)

// runSorts are the columns the runs page sorts by (the API's sortable ones).
var runSorts = []string{"created", "name", "start_time", "end_time"}

// live reports whether a status may still change, so the page refreshes.
func live(status string) bool {
	switch status {
	case client.StatusInitializing, client.StatusRunning, client.StatusStopping, client.StatusRetrying:
		return true
	}
	return false
}

type runRow struct {
	client.Run
	Pipeline string
}

// runFilter is the runs page's query: filter, sort and page.
type runFilter struct {
	Status, Pipeline, Name, Sort, Dir string
}

func runFilterOf(r *http.Request) runFilter {
	q := r.URL.Query()
	f := runFilter{Status: q.Get("status"), Pipeline: q.Get("pipeline"), Name: strings.TrimSpace(q.Get("name")), Sort: q.Get("sort"), Dir: q.Get("dir")}
	if !slices.Contains(client.Statuses, f.Status) {
		f.Status = ""
	}
	if !slices.Contains(runSorts, f.Sort) {
		f.Sort = "created"
	}
	if f.Dir != "asc" {
		f.Dir = "desc"
	}
	return f
}

func (f runFilter) options(page int) *client.ListOptions {
	o := &client.ListOptions{Page: page, Size: pageSize, SortBy: f.Dir + ":" + f.Sort, Filters: map[string]string{}}
	if f.Status != "" {
		o.Filters["status"] = f.Status
	}
	if f.Pipeline != "" {
		o.Filters["pipeline_id"] = f.Pipeline
	}
	if f.Name != "" {
		o.Filters["name"] = "contains:" + f.Name
	}
	return o
}

func (u *UI) runsPage(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "runs", "Runs")
	if !ok {
		return
	}
	ctx := r.Context()
	f := runFilterOf(r)
	names, pipelines, err := pipelineNames(ctx, wp.c)
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	runs, err := wp.c.ListRuns(ctx, f.options(pageNum(r)))
	if err != nil {
		if msg, status, ok := formError(err); ok && status != http.StatusForbidden {
			// A filter the API refuses is shown next to the filter form.
			wp.v.Error = msg
			wp.v.Data = map[string]any{"Runs": nil, "Filter": f, "Pipelines": pipelines, "Statuses": client.Statuses, "Sorts": runSorts, "Pager": pager{}}
			u.render(w, r, status, "runs", wp.v)
			return
		}
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	rows := make([]runRow, len(runs.Items))
	anyLive := false
	for i, run := range runs.Items {
		rows[i] = runRow{Run: run}
		if run.Body.PipelineID != nil {
			rows[i].Pipeline = names[*run.Body.PipelineID]
		}
		anyLive = anyLive || live(run.Body.Status)
	}
	wp.v.Data = map[string]any{"Runs": rows, "Filter": f, "Pipelines": pipelines, "Statuses": client.Statuses,
		"Sorts": runSorts, "Pager": pagerOf(runs, r), "Live": anyLive}
	u.render(w, r, http.StatusOK, "runs", wp.v)
}

// runPage shows a run: its steps as a graph and as a table, and its logs.
func (u *UI) runPage(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "runs", "Run")
	if !ok {
		return
	}
	u.showRun(w, r, s, wp, http.StatusOK, "")
}

// showRun draws the run of the path, with errMsg above it when a form on it
// failed.
func (u *UI) showRun(w http.ResponseWriter, r *http.Request, s *session, wp wsPage, status int, errMsg string) {
	ctx := r.Context()
	run, err := wp.c.GetRun(ctx, r.PathValue("run"), true)
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	steps, err := wp.c.ListRunSteps(ctx, run.ID, &client.ListOptions{Size: 1000, SortBy: "asc:created", Hydrate: true})
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	logs, err := wp.c.RunLogs(ctx, run.ID)
	if err != nil && client.StatusOf(err) != http.StatusNotFound {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	pipeline := ""
	if run.Body.PipelineID != nil {
		if p, err := wp.c.GetPipeline(ctx, *run.Body.PipelineID, false); err == nil {
			pipeline = p.Name
		}
	}
	anyLive := live(run.Body.Status)
	for _, st := range steps.Items {
		anyLive = anyLive || live(st.Body.Status)
	}
	wp.v.Title = "Run " + run.Name + " · " + wp.v.WS.Name
	wp.v.Error = errMsg
	wp.v.Data = map[string]any{"Run": run, "Pipeline": pipeline, "Steps": steps.Items, "Logs": logs,
		"DAG": layoutDAG(wp.v.WS.ID, steps.Items), "Live": anyLive, "Stoppable": live(run.Body.Status)}
	u.render(w, r, status, "run", wp.v)
}

// runAgainPost runs the run's snapshot again, through the workspace's
// workload manager, and shows the new run. A workspace without one, a
// snapshot it cannot run, or too many runs at once are said on the page.
func (u *UI) runAgainPost(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "runs", "Run")
	if !ok {
		return
	}
	next, err := wp.c.RunAgain(r.Context(), r.PathValue("run"))
	if err != nil {
		if msg, status, ok := formError(err); ok {
			u.showRun(w, r, s, wp, status, msg)
			return
		}
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	http.Redirect(w, r, runLink(wp.v.WS.ID, next.ID, "run-started"), http.StatusSeeOther)
}

// runStopPost stops a run: at once, or (how=graceful) once its current
// step has finished. The workspace decides whether the user may.
func (u *UI) runStopPost(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "runs", "Run")
	if !ok {
		return
	}
	graceful := r.PostFormValue("how") == "graceful"
	if err := wp.c.StopRun(r.Context(), r.PathValue("run"), graceful); err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	done := "run-stopped"
	if graceful {
		done = "run-stopping"
	}
	http.Redirect(w, r, runLink(wp.v.WS.ID, r.PathValue("run"), done), http.StatusSeeOther)
}

// runLink is the page of a run, with the notice of what a form just did.
func runLink(wsID, runID, done string) string {
	return "/workspaces/" + url.PathEscape(wsID) + "/runs/" + url.PathEscape(runID) + "?done=" + done
}

// artifactRef is an input or output of a step.
type artifactRef struct {
	Slot    string
	ID      string
	Name    string
	Version string
	Type    string
}

func (u *UI) stepPage(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "runs", "Step")
	if !ok {
		return
	}
	ctx := r.Context()
	st, err := wp.c.GetStep(ctx, r.PathValue("step"), true)
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	logs, err := wp.c.StepLogs(ctx, st.ID)
	if err != nil && client.StatusOf(err) != http.StatusNotFound {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	refs := func(m map[string][]string) []artifactRef {
		var out []artifactRef
		for slot, ids := range m {
			for _, id := range ids {
				ref := artifactRef{Slot: slot, ID: id}
				if av, err := wp.c.GetArtifactVersion(ctx, id, false); err == nil {
					ref.Name, ref.Version, ref.Type = av.Name, av.Body.Version, av.Body.Type
				}
				out = append(out, ref)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
		return out
	}
	runID := ""
	if st.Metadata != nil {
		runID = st.Metadata.PipelineRunID
	}
	wp.v.Title = "Step " + st.Name + " · " + wp.v.WS.Name
	wp.v.Data = map[string]any{"Step": st, "RunID": runID, "Inputs": refs(st.Body.Inputs), "Outputs": refs(st.Body.Outputs),
		"Logs": logs, "Live": live(st.Body.Status)}
	u.render(w, r, http.StatusOK, "step", wp.v)
}
