package workspace

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// TestConformance runs the store through the API on SQLite, PostgreSQL and
// MariaDB: the same requests must give the same answers on all three.
func TestConformance(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		srv, _, c := testServer(t, testConfig(t, url))
		t.Run("lineage", func(t *testing.T) { conformLineage(t, c) })
		t.Run("lists", func(t *testing.T) { conformLists(t, c) })
		t.Run("constraints", func(t *testing.T) { conformConstraints(t, srv, c) })
		t.Run("models", func(t *testing.T) { conformModels(t, c) })
		t.Run("secrets", func(t *testing.T) { conformSecrets(t, srv, c) })
		t.Run("tags and metadata", func(t *testing.T) { conformTags(t, c) })
		t.Run("code repositories", func(t *testing.T) { conformCodeRepositories(t, srv, c) })
		t.Run("artifact versions in a batch", func(t *testing.T) { conformArtifactBatch(t, srv, c) })
	})
}

// conformArtifactBatch creates artifact versions as the SDK stores a step's
// outputs: several in one request, all or none.
func conformArtifactBatch(t *testing.T, srv *Server, c *client.Workspace) {
	ctx := context.Background()
	must[client.Project](t)(c.CreateProject(ctx, client.ProjectRequest{Name: "batch"}))
	first := must[client.ArtifactVersion](t)(c.CreateArtifactVersion(ctx, client.ArtifactVersionRequest{ArtifactName: "model", Project: "batch", Type: "ModelArtifact", URI: "/a/model/1"}))
	got := must[[]client.ArtifactVersion](t)(c.CreateArtifactVersions(ctx, []client.ArtifactVersionRequest{
		{ArtifactName: "features", Project: "batch", Type: "DataArtifact", URI: "/a/features/1", Tags: []string{"daily"}},
		{ArtifactID: first.Body.ArtifactID, Project: "batch", Type: "ModelArtifact", URI: "/a/model/2"},
		{ArtifactName: "report", Project: "batch", Type: "DataArtifact", URI: "/a/report/1", Version: "v1"},
	}))
	if len(got) != 3 || got[0].Name != "features" || got[0].Body.Version != "1" || got[1].Body.ArtifactID != first.Body.ArtifactID ||
		got[1].Body.Version != "2" || got[2].Name != "report" || got[2].Body.Version != "v1" || got[0].Metadata == nil {
		t.Fatalf("batch: %+v", got)
	}
	if tags := got[0].Resources.Tags; len(tags) != 1 || tags[0].Name != "daily" {
		t.Fatalf("tags of the first: %+v", got[0].Resources)
	}
	// One bad item: nothing of the batch is written, and the error says which.
	arts, vers := countRows(t, srv.db, "artifacts"), countRows(t, srv.db, "artifact_versions")
	_, err := c.CreateArtifactVersions(ctx, []client.ArtifactVersionRequest{
		{ArtifactName: "never", Project: "batch", Type: "DataArtifact", URI: "/a/never/1"},
		{ArtifactID: newID(), Project: "batch", Type: "DataArtifact", URI: "/a/x"},
	})
	wantStatus(t, err, http.StatusNotFound)
	if e := err.(*client.Error); !strings.Contains(e.Msg, "item 1") {
		t.Fatalf("error names no item: %v", err)
	}
	_, err = c.CreateArtifactVersions(ctx, []client.ArtifactVersionRequest{{ArtifactName: "never", Project: "batch", Type: "DataArtifact", URI: "/a/never/1"}, {Project: "batch"}})
	wantStatus(t, err, http.StatusUnprocessableEntity)
	_, err = c.CreateArtifactVersions(ctx, nil)
	wantStatus(t, err, http.StatusUnprocessableEntity)
	if a, v := countRows(t, srv.db, "artifacts"), countRows(t, srv.db, "artifact_versions"); a != arts || v != vers {
		t.Fatalf("refused batches left %d artifacts and %d versions", a-arts, v-vers)
	}
}

// conformCodeRepositories creates, finds, changes and deletes code
// repositories, and refuses what the SDK would not write.
func conformCodeRepositories(t *testing.T, srv *Server, c *client.Workspace) {
	ctx := context.Background()
	must[client.Project](t)(c.CreateProject(ctx, client.ProjectRequest{Name: "code"}))
	desc := "the training code"
	gitlab := must[client.CodeRepository](t)(c.CreateCodeRepository(ctx, client.CodeRepositoryRequest{
		Name: "training", Project: "code", Description: &desc,
		Config: map[string]any{"instance": "gitlab.internal", "group": "ml", "project": "training", "token": "{{gitlab.token}}"},
		Source: json.RawMessage(`{"module": "zenml.integrations.gitlab.code_repositories", "attribute": "GitLabCodeRepository", "type": "internal"}`)}))
	if gitlab.Body.ProjectID == "" || gitlab.Metadata == nil || gitlab.Metadata.Config["group"] != "ml" || *gitlab.Metadata.Description != desc {
		t.Fatalf("created: %+v %+v", gitlab.Body, gitlab.Metadata)
	}
	if string(gitlab.Body.Source) != `{"module":"zenml.integrations.gitlab.code_repositories","attribute":"GitLabCodeRepository","type":"internal"}` {
		t.Fatalf("source %s", gitlab.Body.Source)
	}
	// A dotted path is read as the SDK reads one.
	local := must[client.CodeRepository](t)(c.CreateCodeRepository(ctx, client.CodeRepositoryRequest{
		Name: "monorepo", Project: "code", Source: json.RawMessage(`"repos.git.LocalGitRepository"`)}))
	var src map[string]string
	if err := json.Unmarshal(local.Body.Source, &src); err != nil || src["module"] != "repos.git" || src["attribute"] != "LocalGitRepository" || src["type"] != "unknown" {
		t.Fatalf("dotted source: %s", local.Body.Source)
	}
	if local.Body.LogoURL != nil || local.Metadata.Description != nil {
		t.Fatalf("unset logo and description: %+v %+v", local.Body, local.Metadata)
	}

	page := must[client.Page[client.CodeRepository]](t)(c.ListCodeRepositories(ctx, &client.ListOptions{Project: "code", SortBy: "asc:name"}))
	if page.Total != 2 || page.Items[0].Name != "monorepo" || page.Items[1].Name != "training" || page.Items[0].Metadata != nil {
		t.Fatalf("list: %+v", page)
	}
	page = must[client.Page[client.CodeRepository]](t)(c.ListCodeRepositories(ctx, filters("name", "contains:TRAIN")))
	if page.Total != 1 || page.Items[0].ID != gitlab.ID {
		t.Fatalf("name contains: %+v", page)
	}

	logo, name := "https://gitlab.internal/logo.png", "training-code"
	got := must[client.CodeRepository](t)(c.UpdateCodeRepository(ctx, gitlab.ID, client.CodeRepositoryUpdate{Name: &name, LogoURL: &logo, Config: map[string]any{"group": "ml-platform"}}))
	if got.Name != name || *got.Body.LogoURL != logo || got.Metadata.Config["group"] != "ml-platform" || *got.Metadata.Description != desc {
		t.Fatalf("updated: %+v %+v", got, got.Metadata)
	}
	_, err := c.CreateCodeRepository(ctx, client.CodeRepositoryRequest{Name: "monorepo", Project: "code", Source: json.RawMessage(`"a.B"`)})
	wantStatus(t, err, http.StatusConflict)

	before := countRows(t, srv.db, "code_repositories")
	for _, bad := range []client.CodeRepositoryRequest{
		{Name: "x", Project: "code"},
		{Name: "x", Project: "code", Source: json.RawMessage(`"NoModule"`)},
		{Name: "x", Project: "code", Source: json.RawMessage(`{"attribute": "A"}`)},
		{Name: "x", Project: "code", Source: json.RawMessage(`{"module": "m", "type": 3}`)},
		{Name: "x", Project: "code", Source: json.RawMessage(`[1]`)},
		{Name: "", Project: "code", Source: json.RawMessage(`"a.B"`)},
		{Name: "x", Project: "code", Source: json.RawMessage(`"a.B"`), LogoURL: ptr("javascript:alert(1)")},
	} {
		_, err := c.CreateCodeRepository(ctx, bad)
		wantStatus(t, err, http.StatusUnprocessableEntity)
	}
	_, err = c.CreateCodeRepository(ctx, client.CodeRepositoryRequest{Name: "x", Project: "no-such-project", Source: json.RawMessage(`"a.B"`)})
	wantStatus(t, err, http.StatusNotFound)
	if after := countRows(t, srv.db, "code_repositories"); after != before {
		t.Fatalf("refused requests left %d rows", after-before)
	}

	if err := c.DeleteCodeRepository(ctx, local.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetCodeRepository(ctx, local.ID, false)
	wantStatus(t, err, http.StatusNotFound)
	wantStatus(t, c.DeleteCodeRepository(ctx, local.ID), http.StatusNotFound)
}

// conformLineage records a run of two steps where the second reads what the
// first wrote, and reads the lineage back both ways.
func conformLineage(t *testing.T, c *client.Workspace) {
	ctx := context.Background()
	f := newFixture(t, c, "lineage")
	run := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "run-1", Snapshot: f.snapshot.ID, Project: "lineage", Status: "running", Tags: []string{"nightly"}}))
	if run.Body.Index != 1 || !run.Body.InProgress || run.Body.StartTime == nil || *run.Body.PipelineID != f.pipeline.ID {
		t.Fatalf("run body: %+v", run.Body)
	}
	load := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "load", PipelineRunID: run.ID, Status: "running", CacheKey: "k1"}))
	data := must[client.ArtifactVersion](t)(c.CreateArtifactVersion(ctx, client.ArtifactVersionRequest{
		ArtifactName: "dataset", Project: "lineage", Type: "DataArtifact", URI: "s3://bucket/dataset/1",
		Materializer: json.RawMessage(`{"module":"m","attribute":"A","type":"class"}`)}))
	if data.Body.Version != "1" || data.Name != "dataset" {
		t.Fatalf("artifact version: %+v", data)
	}
	must[client.Step](t)(c.UpdateStep(ctx, load.ID, client.StepUpdate{Status: ptr("completed"), Outputs: map[string][]string{"output": {data.ID}}}))
	train := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "train", PipelineRunID: run.ID, Status: "completed",
		Inputs: map[string][]string{"data": {data.ID}}, ParentStepIDs: []string{load.ID}}))

	got := must[client.Step](t)(c.GetStep(ctx, train.ID, true))
	if !slices.Equal(got.Body.Inputs["data"], []string{data.ID}) || !slices.Equal(got.Metadata.ParentStepIDs, []string{load.ID}) || got.Body.EndTime == nil {
		t.Fatalf("train step: %+v %+v", got.Body, got.Metadata)
	}
	av := must[client.ArtifactVersion](t)(c.GetArtifactVersion(ctx, data.ID, true))
	if av.Body.ProducerPipelineRunID == nil || *av.Body.ProducerPipelineRunID != run.ID || *av.Metadata.ProducerStepRunID != load.ID {
		t.Fatalf("producer of %s: %+v %+v", data.ID, av.Body, av.Metadata)
	}
	consumed := must[client.Page[client.ArtifactVersion]](t)(c.ListArtifactVersions(ctx, filters("consumed_by_step_id", train.ID)))
	if consumed.Total != 1 || consumed.Items[0].ID != data.ID {
		t.Fatalf("consumed by train: %+v", consumed)
	}
	produced := must[client.Page[client.ArtifactVersion]](t)(c.ListArtifactVersions(ctx, filters("producer_pipeline_run_id", run.ID)))
	if produced.Total != 1 {
		t.Fatalf("produced by run: %d", produced.Total)
	}
	steps := must[client.Page[client.Step]](t)(c.ListRunSteps(ctx, run.ID, &client.ListOptions{SortBy: "name"}))
	if steps.Total != 2 || steps.Items[0].Name != "load" || steps.Items[1].Body.Inputs["data"][0] != data.ID {
		t.Fatalf("steps: %+v", steps)
	}
	done := must[client.Run](t)(c.UpdateRun(ctx, run.ID, client.RunUpdate{Status: ptr("completed")}))
	if done.Body.InProgress || done.Body.EndTime == nil {
		t.Fatalf("completed run: %+v", done.Body)
	}
	pl := must[client.Pipeline](t)(c.GetPipeline(ctx, f.pipeline.ID, true))
	if pl.Resources.LatestRunID == nil || *pl.Resources.LatestRunID != run.ID || *pl.Resources.LatestRunStatus != "completed" {
		t.Fatalf("pipeline resources: %+v", pl.Resources)
	}
	art := must[client.Page[client.Artifact]](t)(c.ListArtifacts(ctx, filters("name", "dataset")))
	if art.Total != 1 || *art.Items[0].Resources.LatestVersionID != data.ID {
		t.Fatalf("artifact: %+v", art)
	}
	// Logs go in and come out.
	must[any](t)(nil, c.AppendStepLogs(ctx, load.ID, "loading\n"))
	must[any](t)(nil, c.AppendStepLogs(ctx, load.ID, "done\n"))
	if l := must[string](t)(c.StepLogs(ctx, load.ID)); l != "loading\ndone\n" {
		t.Fatalf("step logs: %q", l)
	}
	// Forward across runs: a step of another run reads the same version.
	later := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "run-2", Snapshot: f.snapshot.ID, Project: "lineage", Status: "running"}))
	eval := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "evaluate", PipelineRunID: later.ID, Status: "completed",
		Inputs: map[string][]string{"data": {data.ID}}}))
	readers := func() []string {
		page := must[client.Page[client.Step]](t)(c.ListSteps(ctx, &client.ListOptions{SortBy: "asc:created",
			Filters: map[string]string{"consumes_artifact_version_id": data.ID}}))
		var ids []string
		for _, st := range page.Items {
			ids = append(ids, st.ID)
		}
		return ids
	}
	if got := readers(); !slices.Equal(got, []string{train.ID, eval.ID}) {
		t.Fatalf("readers of %s: %v, want train and evaluate", data.ID, got)
	}
	if none := must[client.Page[client.Step]](t)(c.ListSteps(ctx, filters("consumes_artifact_version_id", newID()))); none.Total != 0 {
		t.Fatalf("readers of nothing: %+v", none.Items)
	}
	// Deleting the run takes its steps and frees the artifacts' producer.
	must[any](t)(nil, c.DeleteRun(ctx, run.ID))
	_, err := c.GetStep(ctx, load.ID, false)
	wantStatus(t, err, http.StatusNotFound)
	av = must[client.ArtifactVersion](t)(c.GetArtifactVersion(ctx, data.ID, true))
	if av.Body.ProducerPipelineRunID != nil {
		t.Fatalf("producer survives its run: %v", *av.Body.ProducerPipelineRunID)
	}
	if got := readers(); !slices.Equal(got, []string{eval.ID}) {
		t.Fatalf("readers after the first run went: %v", got)
	}
}

func ptr[T any](v T) *T { return &v }

// conformLists checks paging, sorting, filters and the logical operator.
func conformLists(t *testing.T, c *client.Workspace) {
	ctx := context.Background()
	f := newFixture(t, c, "lists")
	statuses := []string{"running", "initializing", "running", "initializing", "running"}
	var ids []string
	for i, st := range statuses {
		r := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: fmt.Sprintf("run-%c", 'a'+i), Snapshot: f.snapshot.ID, Project: f.project.ID, Status: st}))
		ids = append(ids, r.ID)
		if r.Body.Index != int64(i+1) {
			t.Fatalf("run %d has index %d", i, r.Body.Index)
		}
	}
	must[client.Run](t)(c.UpdateRun(ctx, ids[4], client.RunUpdate{Status: ptr("failed")}))
	list := func(o *client.ListOptions) client.Page[client.Run] {
		t.Helper()
		if o.Project == "" {
			o.Project = "lists"
		}
		return must[client.Page[client.Run]](t)(c.ListRuns(ctx, o))
	}
	names := func(p client.Page[client.Run]) []string {
		var out []string
		for _, r := range p.Items {
			out = append(out, r.Name)
		}
		return out
	}
	cases := []struct {
		name string
		o    *client.ListOptions
		want []string
	}{
		{"default order is creation", &client.ListOptions{}, []string{"run-a", "run-b", "run-c", "run-d", "run-e"}},
		{"desc by name", &client.ListOptions{SortBy: "desc:name"}, []string{"run-e", "run-d", "run-c", "run-b", "run-a"}},
		{"page 2 of size 2", &client.ListOptions{Size: 2, Page: 2, SortBy: "name"}, []string{"run-c", "run-d"}},
		{"status equals", filters("status", "running"), []string{"run-a", "run-c"}},
		{"status oneof", filters("status", `oneof:["failed","initializing"]`), []string{"run-b", "run-d", "run-e"}},
		{"status notequals", filters("status", "notequals:running"), []string{"run-b", "run-d", "run-e"}},
		{"name contains, case-blind", filters("name", "contains:UN-C"), []string{"run-c"}},
		{"name startswith", filters("name", "startswith:run-"), []string{"run-a", "run-b", "run-c", "run-d", "run-e"}},
		{"name endswith", filters("name", "endswith:-e"), []string{"run-e"}},
		{"index gte", filters("index", "gte:4"), []string{"run-d", "run-e"}},
		{"or", &client.ListOptions{LogicalOperator: "or", Filters: map[string]string{"name": "run-a", "status": "failed"}}, []string{"run-a", "run-e"}},
		{"id", filters("id", ids[1]), []string{"run-b"}},
		{"created after the future", filters("created", "gt:2999-01-01 00:00:00"), nil},
		{"created after the past", filters("created", "gte:2000-01-01 00:00:00"), []string{"run-a", "run-b", "run-c", "run-d", "run-e"}},
		{"pipeline id", filters("pipeline_id", f.pipeline.ID), []string{"run-a", "run-b", "run-c", "run-d", "run-e"}},
	}
	for _, tc := range cases {
		got := list(tc.o)
		if !slices.Equal(names(got), tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, names(got), tc.want)
		}
	}
	p := list(&client.ListOptions{Size: 2})
	if p.Total != 5 || p.TotalPages != 3 || p.Index != 1 || p.MaxSize != 2 {
		t.Errorf("page header: %+v", p)
	}
	for v, want := range map[string]int64{"true": 4, "True": 4, "yes": 4, "false": 1, "0": 1} {
		if runs, err := c.ListRuns(ctx, filters("project", "lists", "in_progress", v)); err != nil || runs.Total != want {
			t.Errorf("in_progress=%s: %d %v, want %d", v, runs.Total, err, want)
		}
	}
	if _, err := c.ListRuns(ctx, filters("project", "lists", "in_progress", "maybe")); !strings.Contains(fmt.Sprint(err), "in_progress must be true or false") {
		t.Errorf("in_progress=maybe: %v", err)
	}
	// Hydration fills metadata; a list does not unless asked.
	if p.Items[0].Metadata != nil {
		t.Errorf("unhydrated list carries metadata")
	}
	h := list(&client.ListOptions{Size: 1, Hydrate: true})
	if h.Items[0].Metadata == nil {
		t.Errorf("hydrated list lacks metadata")
	}
}

// conformConstraints checks unique names, references in use, and that a
// refused request writes nothing.
func conformConstraints(t *testing.T, srv *Server, c *client.Workspace) {
	ctx := context.Background()
	f := newFixture(t, c, "constraints")
	_, err := c.CreateProject(ctx, client.ProjectRequest{Name: "constraints"})
	wantStatus(t, err, http.StatusConflict)
	_, err = c.CreatePipeline(ctx, client.PipelineRequest{Name: "training", Project: "constraints"})
	wantStatus(t, err, http.StatusConflict)
	run := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "constraints", Status: "running"}))
	_, err = c.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "constraints", Status: "running"})
	wantStatus(t, err, http.StatusConflict)
	// POST /runs is get-or-create: the run of the same name, snapshot and
	// orchestrator run id is answered again, not made twice.
	orch := client.RunRequest{Name: "orch", Snapshot: f.snapshot.ID, Project: "constraints", Status: "running", OrchestratorRunID: ptr("pod-42")}
	made, created, err := c.GetOrCreateRun(ctx, orch)
	if err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	again, created, err := c.GetOrCreateRun(ctx, orch)
	if err != nil || created || again.ID != made.ID {
		t.Fatalf("again: %s %v %v, want %s", again.ID, created, err, made.ID)
	}
	orch.OrchestratorRunID = ptr("pod-43")
	_, _, err = c.GetOrCreateRun(ctx, orch)
	wantStatus(t, err, http.StatusConflict)
	wantStatus(t, c.DeleteSnapshot(ctx, f.snapshot.ID), http.StatusConflict)
	wantStatus(t, c.DeleteProject(ctx, f.project.ID), http.StatusConflict)

	// A step with one good and one missing input writes nothing at all.
	before := countRows(t, srv.db, "step_runs")
	_, err = c.CreateStep(ctx, client.StepRequest{Name: "s", PipelineRunID: run.ID, Status: "running",
		Inputs: map[string][]string{"a": {newID()}}})
	wantStatus(t, err, http.StatusNotFound)
	if after := countRows(t, srv.db, "step_runs"); after != before {
		t.Fatalf("a refused step left %d rows", after-before)
	}
	// A stack's components must exist and be of their type.
	comps := must[client.Page[client.Component]](t)(c.ListComponents(ctx, filters("type", "orchestrator")))
	_, err = c.CreateStack(ctx, client.StackRequest{Name: "bad", Components: map[string][]string{
		"orchestrator": {comps.Items[0].ID}, "artifact_store": {comps.Items[0].ID}}})
	wantStatus(t, err, http.StatusUnprocessableEntity)
	wantStatus(t, c.DeleteComponent(ctx, comps.Items[0].ID), http.StatusConflict)
}

func conformModels(t *testing.T, c *client.Workspace) {
	ctx := context.Background()
	must[client.Project](t)(c.CreateProject(ctx, client.ProjectRequest{Name: "models"}))
	m := must[client.Model](t)(c.CreateModel(ctx, client.ModelRequest{Name: "churn", Project: "models", License: "MIT"}))
	v1 := must[client.ModelVersion](t)(c.CreateModelVersion(ctx, client.ModelVersionRequest{Model: "churn", Project: "models"}))
	v2 := must[client.ModelVersion](t)(c.CreateModelVersion(ctx, client.ModelVersionRequest{Model: m.ID, Project: "models", Name: "v-two"}))
	if v1.Body.Number != 1 || v1.Name != "1" || v2.Body.Number != 2 || v2.Body.Stage != "none" {
		t.Fatalf("versions: %+v %+v", v1, v2)
	}
	must[client.ModelVersion](t)(c.UpdateModelVersion(ctx, v1.ID, client.ModelVersionUpdate{Stage: ptr("production")}))
	_, err := c.UpdateModelVersion(ctx, v2.ID, client.ModelVersionUpdate{Stage: ptr("production")})
	wantStatus(t, err, http.StatusConflict)
	must[client.ModelVersion](t)(c.UpdateModelVersion(ctx, v2.ID, client.ModelVersionUpdate{Stage: ptr("production"), Force: true}))
	if got := must[client.ModelVersion](t)(c.GetModelVersion(ctx, v1.ID, false)); got.Body.Stage != "archived" {
		t.Fatalf("the old production version is %s", got.Body.Stage)
	}
	got := must[client.Model](t)(c.GetModel(ctx, m.ID, true))
	if *got.Resources.LatestVersionName != "v-two" || got.Metadata.License != "MIT" {
		t.Fatalf("model: %+v %+v", got.Resources, got.Metadata)
	}
	prod := must[client.Page[client.ModelVersion]](t)(c.ListModelVersions(ctx, filters("stage", "production", "model", "churn")))
	if prod.Total != 1 || prod.Items[0].ID != v2.ID {
		t.Fatalf("production versions: %+v", prod)
	}
	must[any](t)(nil, c.DeleteModel(ctx, m.ID))
	_, err = c.GetModelVersion(ctx, v2.ID, false)
	wantStatus(t, err, http.StatusNotFound)
}

func conformSecrets(t *testing.T, srv *Server, c *client.Workspace) {
	ctx := context.Background()
	sec := must[client.Secret](t)(c.CreateSecret(ctx, client.SecretRequest{Name: "aws", Values: map[string]string{"key": "AKIA", "secret": "s3cr3t"}}))
	if v, ok := sec.Body.Values["secret"]; !ok || v != nil {
		t.Fatalf("the create answer shows a value: %+v", sec.Body.Values)
	}
	// At rest, the value is sealed.
	var sealed string
	if err := srv.db.QueryRow(ctx, "SELECT enc_values FROM secrets WHERE id = ?", sec.ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if sealed == "" || containsAny(sealed, "AKIA", "s3cr3t") {
		t.Fatalf("secret stored in the clear: %q", sealed)
	}
	got := must[client.Secret](t)(c.GetSecret(ctx, sec.ID))
	if got.Body.Values["secret"] == nil || *got.Body.Values["secret"] != "s3cr3t" {
		t.Fatalf("get: %+v", got.Body.Values)
	}
	list := must[client.Page[client.Secret]](t)(c.ListSecrets(ctx, filters("name", "aws")))
	if list.Total != 1 || list.Items[0].Body.Values["secret"] != nil {
		t.Fatalf("list shows values: %+v", list.Items)
	}
	must[client.Secret](t)(c.UpdateSecret(ctx, sec.ID, client.SecretUpdate{Values: map[string]*string{"key": nil, "region": ptr("eu")}}))
	got = must[client.Secret](t)(c.GetSecret(ctx, sec.ID))
	if _, has := got.Body.Values["key"]; has || *got.Body.Values["region"] != "eu" || *got.Body.Values["secret"] != "s3cr3t" {
		t.Fatalf("after update: %+v", got.Body.Values)
	}
	_, err := c.CreateSecret(ctx, client.SecretRequest{Name: "aws", Values: map[string]string{}})
	wantStatus(t, err, http.StatusConflict)
	must[any](t)(nil, c.DeleteSecret(ctx, sec.ID))
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

func conformTags(t *testing.T, c *client.Workspace) {
	ctx := context.Background()
	f := newFixture(t, c, "tags")
	a := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "a", Snapshot: f.snapshot.ID, Project: "tags", Status: "running", Tags: []string{"blue"}}))
	b := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "b", Snapshot: f.snapshot.ID, Project: "tags", Status: "running"}))
	must[client.Run](t)(c.UpdateRun(ctx, b.ID, client.RunUpdate{AddTags: []string{"blue", "green"}}))
	page, err := c.ListRuns(ctx, filters("project", "tags", "tag", "blue"))
	if err != nil || page.Total != 2 {
		t.Fatalf("tag blue: %d %v", page.Total, err)
	}
	must[client.Run](t)(c.UpdateRun(ctx, a.ID, client.RunUpdate{RemoveTags: []string{"blue"}}))
	if page, err = c.ListRuns(ctx, filters("project", "tags", "tag", "blue")); err != nil || page.Total != 1 || page.Items[0].ID != b.ID {
		t.Fatalf("tag blue after removal: %+v %v", page, err)
	}
	if len(page.Items[0].Resources.Tags) != 2 {
		t.Fatalf("tags of b: %+v", page.Items[0].Resources.Tags)
	}
	tag := must[client.Tag](t)(c.GetTag(ctx, "blue"))
	if tag.Body.TaggedCount != 1 {
		t.Fatalf("tagged count: %d", tag.Body.TaggedCount)
	}
	// Exclusive tags move.
	must[client.Tag](t)(c.UpdateTag(ctx, tag.ID, client.TagUpdate{Exclusive: ptr(true)}))
	must[client.Run](t)(c.UpdateRun(ctx, a.ID, client.RunUpdate{AddTags: []string{"blue"}}))
	if page, err = c.ListRuns(ctx, filters("project", "tags", "tag", "blue")); err != nil || page.Total != 1 || page.Items[0].ID != a.ID {
		t.Fatalf("exclusive tag: %+v %v", page, err)
	}
	// Run metadata.
	must[any](t)(nil, c.AddRunMetadata(ctx, client.RunMetadataRequest{
		Resources: []client.MetadataResource{{ID: a.ID, Type: "pipeline_run"}},
		Values:    map[string]any{"accuracy": 0.93, "notes": "ok"}}))
	got := must[client.Run](t)(c.GetRun(ctx, a.ID, true))
	if got.Metadata.RunMetadata["accuracy"] != 0.93 || got.Metadata.RunMetadata["notes"] != "ok" {
		t.Fatalf("run metadata: %+v", got.Metadata.RunMetadata)
	}
	err = c.AddRunMetadata(ctx, client.RunMetadataRequest{
		Resources: []client.MetadataResource{{ID: newID(), Type: "pipeline_run"}}, Values: map[string]any{"x": 1}})
	wantStatus(t, err, http.StatusNotFound)
}
