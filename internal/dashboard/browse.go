package dashboard

import (
	"context"
	"net/http"
	"sort"
	"strconv"

	"github.com/enclave-mlops/enclave/client"
)

// pageSize is the number of rows of a list page.
const pageSize = 50

// wsPage is what every page inside a workspace starts with: a client logged
// in at the workspace, and the view with its navigation.
type wsPage struct {
	c *client.Workspace
	v *view
}

// openWS logs in at the workspace of the path; on failure it has answered.
func (u *UI) openWS(w http.ResponseWriter, r *http.Request, s *session, tab, title string) (wsPage, bool) {
	wc, rec, err := u.workspace(r.Context(), s, r.PathValue("ws"))
	if err != nil {
		u.wsFail(w, r, s, rec, err)
		return wsPage{}, false
	}
	return wsPage{c: wc, v: u.wsView(s, rec, tab, title)}, true
}

// wsFail explains a failed workspace call. A 401 from the workspace ends its
// cached token, not the dashboard session.
func (u *UI) wsFail(w http.ResponseWriter, r *http.Request, s *session, rec client.ControlPlaneWorkspace, err error) {
	if client.StatusOf(err) == http.StatusUnauthorized && rec.ID != "" {
		u.ws.drop(cacheKey(s.token, rec.ID))
		u.renderError(w, r, s, http.StatusBadGateway, "The workspace did not accept your session. Reload the page to log in to it again.")
		return
	}
	u.fail(w, r, s, err)
}

func pageNum(r *http.Request) int {
	p, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || p < 1 || p > 1_000_000 {
		return 1
	}
	return p
}

// pager is what the pagination links need.
type pager struct {
	Page, Pages int
	Total       int64
	Prev, Next  string // links keeping the page's other parameters
}

func pagerOf[T any](p client.Page[T], r *http.Request) pager {
	pg := pager{Page: max(p.Index, 1), Pages: p.TotalPages, Total: p.Total}
	link := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return r.URL.Path + "?" + q.Encode()
	}
	if pg.Page > 1 {
		pg.Prev = link(pg.Page - 1)
	}
	if pg.Page < pg.Pages {
		pg.Next = link(pg.Page + 1)
	}
	return pg
}

func (u *UI) pipelinesPage(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "pipelines", "Pipelines")
	if !ok {
		return
	}
	ps, err := wp.c.ListPipelines(r.Context(), &client.ListOptions{Page: pageNum(r), Size: pageSize, SortBy: "desc:created", Hydrate: true})
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	wp.v.Data = map[string]any{"Pipelines": ps.Items, "Pager": pagerOf(ps, r)}
	u.render(w, r, http.StatusOK, "pipelines", wp.v)
}

// ---- artifacts

func (u *UI) artifactsPage(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "artifacts", "Artifacts")
	if !ok {
		return
	}
	avs, err := wp.c.ListArtifactVersions(r.Context(), &client.ListOptions{Page: pageNum(r), Size: pageSize, SortBy: "desc:created"})
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	wp.v.Data = map[string]any{"Versions": avs.Items, "Pager": pagerOf(avs, r)}
	u.render(w, r, http.StatusOK, "artifacts", wp.v)
}

// artifactVersionPage shows a version with its lineage: the run and step
// that produced it, and the steps that read it, in any run.
func (u *UI) artifactVersionPage(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "artifacts", "Artifact")
	if !ok {
		return
	}
	ctx := r.Context()
	av, err := wp.c.GetArtifactVersion(ctx, r.PathValue("av"), true)
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	var producer *client.Step
	if av.Metadata != nil && av.Metadata.ProducerStepRunID != nil {
		if st, err := wp.c.GetStep(ctx, *av.Metadata.ProducerStepRunID, false); err == nil {
			producer = &st
		} else if client.StatusOf(err) != http.StatusForbidden && client.StatusOf(err) != http.StatusNotFound {
			u.wsFail(w, r, s, *wp.v.WS, err)
			return
		}
	}
	readers, err := wp.c.ListSteps(ctx, &client.ListOptions{Size: maxReaders, SortBy: "asc:created", Hydrate: true,
		Filters: map[string]string{"consumes_artifact_version_id": av.ID}})
	if err != nil && client.StatusOf(err) != http.StatusForbidden {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	wp.v.Title = "Artifact " + av.Name + " · " + wp.v.WS.Name
	wp.v.Data = map[string]any{"Version": av, "Producer": producer, "Consumers": u.readerRows(ctx, wp.c, av, readers.Items),
		"MoreReaders": readers.Total > int64(len(readers.Items))}
	u.render(w, r, http.StatusOK, "artifact", wp.v)
}

// maxReaders bounds the readers an artifact version's page lists.
const maxReaders = 50

// readerRow is a step that read an artifact version, with its run when
// that is not the run that produced the version.
type readerRow struct {
	ID, Name       string
	RunID, RunName string // empty for the producing run
}

// readerRows names the runs of the readers from other runs, one read per
// run (a run the user may not read keeps its id).
func (u *UI) readerRows(ctx context.Context, c *client.Workspace, av client.ArtifactVersion, steps []client.Step) []readerRow {
	names := map[string]string{}
	rows := make([]readerRow, 0, len(steps))
	for _, st := range steps {
		row := readerRow{ID: st.ID, Name: st.Name}
		if st.Metadata != nil && (av.Body.ProducerPipelineRunID == nil || st.Metadata.PipelineRunID != *av.Body.ProducerPipelineRunID) {
			row.RunID = st.Metadata.PipelineRunID
			name, ok := names[row.RunID]
			if !ok {
				name = truncate(row.RunID, 8)
				if run, err := c.GetRun(ctx, row.RunID, false); err == nil {
					name = run.Name
				}
				names[row.RunID] = name
			}
			row.RunName = name
		}
		rows = append(rows, row)
	}
	return rows
}

// ---- models

func (u *UI) modelsPage(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "models", "Models")
	if !ok {
		return
	}
	ms, err := wp.c.ListModels(r.Context(), &client.ListOptions{Page: pageNum(r), Size: pageSize, SortBy: "asc:name", Hydrate: true})
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	wp.v.Data = map[string]any{"Models": ms.Items, "Pager": pagerOf(ms, r)}
	u.render(w, r, http.StatusOK, "models", wp.v)
}

func (u *UI) modelPage(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "models", "Model")
	if !ok {
		return
	}
	ctx := r.Context()
	m, err := wp.c.GetModel(ctx, r.PathValue("model"), true)
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	vs, err := wp.c.ListModelVersions(ctx, &client.ListOptions{Page: pageNum(r), Size: pageSize, SortBy: "desc:created",
		Filters: map[string]string{"model_id": m.ID}})
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	wp.v.Title = "Model " + m.Name + " · " + wp.v.WS.Name
	wp.v.Data = map[string]any{"Model": m, "Versions": vs.Items, "Pager": pagerOf(vs, r)}
	u.render(w, r, http.StatusOK, "model", wp.v)
}

// ---- stacks and components

func (u *UI) stacksPage(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "stacks", "Stacks")
	if !ok {
		return
	}
	ss, err := wp.c.ListStacks(r.Context(), &client.ListOptions{Page: pageNum(r), Size: pageSize, SortBy: "asc:name", Hydrate: true})
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	type stackRow struct {
		client.Stack
		Parts []string
	}
	rows := make([]stackRow, len(ss.Items))
	for i, st := range ss.Items {
		rows[i].Stack = st
		if st.Metadata != nil {
			for typ, cs := range st.Metadata.Components {
				for _, c := range cs {
					rows[i].Parts = append(rows[i].Parts, typ+": "+c.Name)
				}
			}
		}
		sort.Strings(rows[i].Parts)
	}
	wp.v.Data = map[string]any{"Stacks": rows, "Pager": pagerOf(ss, r)}
	u.render(w, r, http.StatusOK, "stacks", wp.v)
}

func (u *UI) componentsPage(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "components", "Components")
	if !ok {
		return
	}
	cs, err := wp.c.ListComponents(r.Context(), &client.ListOptions{Page: pageNum(r), Size: pageSize, SortBy: "asc:name"})
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	wp.v.Data = map[string]any{"Components": cs.Items, "Pager": pagerOf(cs, r)}
	u.render(w, r, http.StatusOK, "components", wp.v)
}

// ---- secrets

// secretKeys lists a secret's keys; values are never in a list.
func secretKeys(sec client.Secret) []string {
	keys := make([]string, 0, len(sec.Body.Values))
	for k := range sec.Body.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (u *UI) secretsPage(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "secrets", "Secrets")
	if !ok {
		return
	}
	ss, err := wp.c.ListSecrets(r.Context(), &client.ListOptions{Page: pageNum(r), Size: pageSize, SortBy: "asc:name"})
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	type secretRow struct {
		client.Secret
		Keys []string
	}
	rows := make([]secretRow, len(ss.Items))
	for i, sec := range ss.Items {
		rows[i] = secretRow{Secret: sec, Keys: secretKeys(sec)}
	}
	wp.v.Data = map[string]any{"Secrets": rows, "Pager": pagerOf(ss, r)}
	u.render(w, r, http.StatusOK, "secrets", wp.v)
}

// secretPage shows a secret's values only when the workspace's answer holds
// them, which it does only for callers allowed to read them.
func (u *UI) secretPage(w http.ResponseWriter, r *http.Request, s *session) {
	wp, ok := u.openWS(w, r, s, "secrets", "Secret")
	if !ok {
		return
	}
	sec, err := wp.c.GetSecret(r.Context(), r.PathValue("secret"))
	if err != nil {
		u.wsFail(w, r, s, *wp.v.WS, err)
		return
	}
	type kv struct {
		Key   string
		Value *string
	}
	var rows []kv
	hidden := false
	for _, k := range secretKeys(sec) {
		rows = append(rows, kv{k, sec.Body.Values[k]})
		hidden = hidden || sec.Body.Values[k] == nil
	}
	wp.v.Title = "Secret " + sec.Name + " · " + wp.v.WS.Name
	wp.v.Data = map[string]any{"Secret": sec, "Values": rows, "Hidden": hidden}
	u.render(w, r, http.StatusOK, "secret", wp.v)
}

// pipelineNames maps pipeline ids to names for the rows of a page.
func pipelineNames(ctx context.Context, c *client.Workspace) (map[string]string, []client.Pipeline, error) {
	ps, err := c.ListPipelines(ctx, &client.ListOptions{Size: 200, SortBy: "asc:name"})
	if err != nil {
		return nil, nil, err
	}
	m := make(map[string]string, len(ps.Items))
	for _, p := range ps.Items {
		m[p.ID] = p.Name
	}
	return m, ps.Items, nil
}
