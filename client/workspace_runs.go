package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// ---- pipelines and snapshots

func (w *Workspace) ListPipelines(ctx context.Context, o *ListOptions) (Page[Pipeline], error) {
	return list[Pipeline](ctx, w, "/pipelines", o)
}
func (w *Workspace) CreatePipeline(ctx context.Context, r PipelineRequest) (Pipeline, error) {
	return send[Pipeline](ctx, w, http.MethodPost, "/pipelines", r)
}
func (w *Workspace) GetPipeline(ctx context.Context, id string, hydrate bool) (Pipeline, error) {
	return get[Pipeline](ctx, w, "/pipelines/"+id, hydrated(hydrate))
}
func (w *Workspace) UpdatePipeline(ctx context.Context, id string, u PipelineUpdate) (Pipeline, error) {
	return send[Pipeline](ctx, w, http.MethodPut, "/pipelines/"+id, u)
}
func (w *Workspace) DeletePipeline(ctx context.Context, id string) error {
	return del(ctx, w, "/pipelines/"+id)
}

func (w *Workspace) ListSnapshots(ctx context.Context, o *ListOptions) (Page[Snapshot], error) {
	return list[Snapshot](ctx, w, "/pipeline_snapshots", o)
}
func (w *Workspace) CreateSnapshot(ctx context.Context, r SnapshotRequest) (Snapshot, error) {
	return send[Snapshot](ctx, w, http.MethodPost, "/pipeline_snapshots", r)
}
func (w *Workspace) GetSnapshot(ctx context.Context, id string, hydrate bool) (Snapshot, error) {
	return get[Snapshot](ctx, w, "/pipeline_snapshots/"+id, hydrated(hydrate))
}
func (w *Workspace) UpdateSnapshot(ctx context.Context, id string, u SnapshotUpdate) (Snapshot, error) {
	return send[Snapshot](ctx, w, http.MethodPut, "/pipeline_snapshots/"+id, u)
}
func (w *Workspace) DeleteSnapshot(ctx context.Context, id string) error {
	return del(ctx, w, "/pipeline_snapshots/"+id)
}

// ---- runs and steps

func (w *Workspace) ListRuns(ctx context.Context, o *ListOptions) (Page[Run], error) {
	return list[Run](ctx, w, "/runs", o)
}

// CreateRun creates a run, or returns the run of the same name, snapshot
// and orchestrator run id when there is one.
func (w *Workspace) CreateRun(ctx context.Context, r RunRequest) (Run, error) {
	run, _, err := w.GetOrCreateRun(ctx, r)
	return run, err
}

// GetOrCreateRun is POST /runs as the server answers it: [run, created].
func (w *Workspace) GetOrCreateRun(ctx context.Context, r RunRequest) (Run, bool, error) {
	pair, err := send[[]json.RawMessage](ctx, w, http.MethodPost, "/runs", r)
	if err != nil {
		return Run{}, false, err
	}
	var run Run
	var created bool
	if len(pair) != 2 || json.Unmarshal(pair[0], &run) != nil || json.Unmarshal(pair[1], &created) != nil {
		return Run{}, false, fmt.Errorf("POST /runs: the answer is not [run, created]")
	}
	return run, created, nil
}
func (w *Workspace) GetRun(ctx context.Context, id string, hydrate bool) (Run, error) {
	return get[Run](ctx, w, "/runs/"+id, hydrated(hydrate))
}
func (w *Workspace) UpdateRun(ctx context.Context, id string, u RunUpdate) (Run, error) {
	return send[Run](ctx, w, http.MethodPut, "/runs/"+id, u)
}
func (w *Workspace) DeleteRun(ctx context.Context, id string) error { return del(ctx, w, "/runs/"+id) }

// StopRun stops a run in progress: at once, or, graceful, once its runner
// has finished the step it is running.
func (w *Workspace) StopRun(ctx context.Context, id string, graceful bool) error {
	q := url.Values{}
	if graceful {
		q.Set("graceful", "true")
	}
	return w.http().Do(ctx, http.MethodPost, api+"/runs/"+id+"/stop", q, nil, nil)
}

// RefreshRun has the server look at the run's runner Job now.
func (w *Workspace) RefreshRun(ctx context.Context, id string) error {
	return w.http().Do(ctx, http.MethodPost, api+"/runs/"+id+"/refresh", nil, nil, nil)
}

// ListRunSteps lists the steps of one run.
func (w *Workspace) ListRunSteps(ctx context.Context, runID string, o *ListOptions) (Page[Step], error) {
	return list[Step](ctx, w, "/runs/"+runID+"/steps", o)
}

func (w *Workspace) ListSteps(ctx context.Context, o *ListOptions) (Page[Step], error) {
	return list[Step](ctx, w, "/steps", o)
}
func (w *Workspace) CreateStep(ctx context.Context, r StepRequest) (Step, error) {
	return send[Step](ctx, w, http.MethodPost, "/steps", r)
}
func (w *Workspace) GetStep(ctx context.Context, id string, hydrate bool) (Step, error) {
	return get[Step](ctx, w, "/steps/"+id, hydrated(hydrate))
}
func (w *Workspace) UpdateStep(ctx context.Context, id string, u StepUpdate) (Step, error) {
	return send[Step](ctx, w, http.MethodPut, "/steps/"+id, u)
}

// RunLogs returns a run's own logs (not its steps').
func (w *Workspace) RunLogs(ctx context.Context, runID string) (string, error) {
	return get[string](ctx, w, "/runs/"+runID+"/logs", nil)
}
func (w *Workspace) AppendRunLogs(ctx context.Context, runID, content string) error {
	_, err := send[any](ctx, w, http.MethodPost, "/runs/"+runID+"/logs", LogAppend{Content: content})
	return err
}
func (w *Workspace) StepLogs(ctx context.Context, stepID string) (string, error) {
	return get[string](ctx, w, "/steps/"+stepID+"/logs", nil)
}
func (w *Workspace) AppendStepLogs(ctx context.Context, stepID, content string) error {
	_, err := send[any](ctx, w, http.MethodPost, "/steps/"+stepID+"/logs", LogAppend{Content: content})
	return err
}

// ---- artifacts

func (w *Workspace) ListArtifacts(ctx context.Context, o *ListOptions) (Page[Artifact], error) {
	return list[Artifact](ctx, w, "/artifacts", o)
}
func (w *Workspace) CreateArtifact(ctx context.Context, r ArtifactRequest) (Artifact, error) {
	return send[Artifact](ctx, w, http.MethodPost, "/artifacts", r)
}
func (w *Workspace) GetArtifact(ctx context.Context, id string, hydrate bool) (Artifact, error) {
	return get[Artifact](ctx, w, "/artifacts/"+id, hydrated(hydrate))
}
func (w *Workspace) UpdateArtifact(ctx context.Context, id string, u ArtifactUpdate) (Artifact, error) {
	return send[Artifact](ctx, w, http.MethodPut, "/artifacts/"+id, u)
}
func (w *Workspace) DeleteArtifact(ctx context.Context, id string) error {
	return del(ctx, w, "/artifacts/"+id)
}

func (w *Workspace) ListArtifactVersions(ctx context.Context, o *ListOptions) (Page[ArtifactVersion], error) {
	return list[ArtifactVersion](ctx, w, "/artifact_versions", o)
}
func (w *Workspace) CreateArtifactVersion(ctx context.Context, r ArtifactVersionRequest) (ArtifactVersion, error) {
	return send[ArtifactVersion](ctx, w, http.MethodPost, "/artifact_versions", r)
}
func (w *Workspace) GetArtifactVersion(ctx context.Context, id string, hydrate bool) (ArtifactVersion, error) {
	return get[ArtifactVersion](ctx, w, "/artifact_versions/"+id, hydrated(hydrate))
}
func (w *Workspace) UpdateArtifactVersion(ctx context.Context, id string, u ArtifactVersionUpdate) (ArtifactVersion, error) {
	return send[ArtifactVersion](ctx, w, http.MethodPut, "/artifact_versions/"+id, u)
}
func (w *Workspace) DeleteArtifactVersion(ctx context.Context, id string) error {
	return del(ctx, w, "/artifact_versions/"+id)
}

// ---- models

func (w *Workspace) ListModels(ctx context.Context, o *ListOptions) (Page[Model], error) {
	return list[Model](ctx, w, "/models", o)
}
func (w *Workspace) CreateModel(ctx context.Context, r ModelRequest) (Model, error) {
	return send[Model](ctx, w, http.MethodPost, "/models", r)
}
func (w *Workspace) GetModel(ctx context.Context, id string, hydrate bool) (Model, error) {
	return get[Model](ctx, w, "/models/"+id, hydrated(hydrate))
}
func (w *Workspace) UpdateModel(ctx context.Context, id string, u ModelUpdate) (Model, error) {
	return send[Model](ctx, w, http.MethodPut, "/models/"+id, u)
}
func (w *Workspace) DeleteModel(ctx context.Context, id string) error {
	return del(ctx, w, "/models/"+id)
}

func (w *Workspace) ListModelVersions(ctx context.Context, o *ListOptions) (Page[ModelVersion], error) {
	return list[ModelVersion](ctx, w, "/model_versions", o)
}
func (w *Workspace) CreateModelVersion(ctx context.Context, r ModelVersionRequest) (ModelVersion, error) {
	return send[ModelVersion](ctx, w, http.MethodPost, "/model_versions", r)
}
func (w *Workspace) GetModelVersion(ctx context.Context, id string, hydrate bool) (ModelVersion, error) {
	return get[ModelVersion](ctx, w, "/model_versions/"+id, hydrated(hydrate))
}
func (w *Workspace) UpdateModelVersion(ctx context.Context, id string, u ModelVersionUpdate) (ModelVersion, error) {
	return send[ModelVersion](ctx, w, http.MethodPut, "/model_versions/"+id, u)
}
func (w *Workspace) DeleteModelVersion(ctx context.Context, id string) error {
	return del(ctx, w, "/model_versions/"+id)
}

// ---- secrets, tags, run metadata

func (w *Workspace) ListSecrets(ctx context.Context, o *ListOptions) (Page[Secret], error) {
	return list[Secret](ctx, w, "/secrets", o)
}
func (w *Workspace) CreateSecret(ctx context.Context, r SecretRequest) (Secret, error) {
	return send[Secret](ctx, w, http.MethodPost, "/secrets", r)
}

// GetSecret returns a secret with its values when the caller may read them.
func (w *Workspace) GetSecret(ctx context.Context, id string) (Secret, error) {
	return get[Secret](ctx, w, "/secrets/"+id, nil)
}
func (w *Workspace) UpdateSecret(ctx context.Context, id string, u SecretUpdate) (Secret, error) {
	return send[Secret](ctx, w, http.MethodPut, "/secrets/"+id, u)
}
func (w *Workspace) DeleteSecret(ctx context.Context, id string) error {
	return del(ctx, w, "/secrets/"+id)
}

func (w *Workspace) ListTags(ctx context.Context, o *ListOptions) (Page[Tag], error) {
	return list[Tag](ctx, w, "/tags", o)
}
func (w *Workspace) CreateTag(ctx context.Context, r TagRequest) (Tag, error) {
	return send[Tag](ctx, w, http.MethodPost, "/tags", r)
}
func (w *Workspace) GetTag(ctx context.Context, nameOrID string) (Tag, error) {
	return get[Tag](ctx, w, "/tags/"+nameOrID, nil)
}
func (w *Workspace) UpdateTag(ctx context.Context, id string, u TagUpdate) (Tag, error) {
	return send[Tag](ctx, w, http.MethodPut, "/tags/"+id, u)
}
func (w *Workspace) DeleteTag(ctx context.Context, id string) error { return del(ctx, w, "/tags/"+id) }

// AddRunMetadata attaches values to runs, steps, artifact versions or model
// versions.
func (w *Workspace) AddRunMetadata(ctx context.Context, r RunMetadataRequest) error {
	_, err := send[any](ctx, w, http.MethodPost, "/run-metadata", r)
	return err
}

// SnapshotRunRequest asks a workspace's workload manager to run a snapshot.
type SnapshotRunRequest struct {
	RunName string `json:"run_name,omitempty"`
}

// RunSnapshot starts a snapshot as a run on the workspace's workload manager
// (a Kubernetes Job) and returns the placeholder run, status "initializing".
func (w *Workspace) RunSnapshot(ctx context.Context, snapshotID string, r SnapshotRunRequest) (Run, error) {
	return send[Run](ctx, w, http.MethodPost, "/pipeline_snapshots/"+snapshotID+"/runs", r)
}

// RunAgain runs the snapshot of the run runID once more, through the
// workspace's workload manager, and returns the new run.
func (w *Workspace) RunAgain(ctx context.Context, runID string) (Run, error) {
	run, err := w.GetRun(ctx, runID, false)
	if err != nil {
		return Run{}, err
	}
	return w.RunSnapshot(ctx, run.Body.SnapshotID, SnapshotRunRequest{})
}

func (w *Workspace) CreateCodeRepository(ctx context.Context, r CodeRepositoryRequest) (CodeRepository, error) {
	return send[CodeRepository](ctx, w, http.MethodPost, "/code_repositories", r)
}
func (w *Workspace) GetCodeRepository(ctx context.Context, id string, hydrate bool) (CodeRepository, error) {
	return get[CodeRepository](ctx, w, "/code_repositories/"+id, hydrated(hydrate))
}
func (w *Workspace) UpdateCodeRepository(ctx context.Context, id string, u CodeRepositoryUpdate) (CodeRepository, error) {
	return send[CodeRepository](ctx, w, http.MethodPut, "/code_repositories/"+id, u)
}
func (w *Workspace) DeleteCodeRepository(ctx context.Context, id string) error {
	return del(ctx, w, "/code_repositories/"+id)
}
func (w *Workspace) ListCodeRepositories(ctx context.Context, o *ListOptions) (Page[CodeRepository], error) {
	return list[CodeRepository](ctx, w, "/code_repositories", o)
}

// CreateArtifactVersions creates rs in one request, all or none, and
// returns them in order.
func (w *Workspace) CreateArtifactVersions(ctx context.Context, rs []ArtifactVersionRequest) ([]ArtifactVersion, error) {
	return send[[]ArtifactVersion](ctx, w, http.MethodPost, "/artifact_versions/batch", rs)
}
