package workspace

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

var stepSpec = &listSpec{table: "step_runs", fields: baseFields(map[string]field{
	"name":            {col: "name", kind: kString, sort: true},
	"status":          {col: "status", kind: kString, enum: client.Statuses},
	"pipeline_run_id": {col: "pipeline_run_id", kind: kID},
	"project_id":      {col: "project_id", kind: kID},
	"user_id":         {col: "user_id", kind: kID},
	"cache_key":       {col: "cache_key", kind: kString},
	"code_hash":       {col: "code_hash", kind: kString},
	"start_time":      {col: "start_time", kind: kTime, sort: true},
	"end_time":        {col: "end_time", kind: kTime, sort: true},
}), params: []string{"project", "user", "consumes_artifact_version_id", "cache_expired"}}

const stepCols = "id, name, pipeline_run_id, project_id, user_id, status, start_time, end_time, cache_key, code_hash, config, spec, logs_uri, created, updated"

func (s *Store) getSteps(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.Step, error) {
	cols := stepCols
	if !hydrate {
		cols = "id, name, pipeline_run_id, project_id, user_id, status, start_time, end_time, cache_key, code_hash, '{}', '{}', logs_uri, created, updated"
	}
	steps, err := byIDs(ctx, q, cols, "step_runs", ids, func(rows *sql.Rows) (string, client.Step, error) {
		var st client.Step
		var md client.StepMetadata
		var user sql.NullString
		var start, end sql.NullInt64
		var conf, spec string
		var created, updated int64
		err := rows.Scan(&st.ID, &st.Name, &md.PipelineRunID, &st.Body.ProjectID, &user, &st.Body.Status, &start, &end,
			&md.CacheKey, &md.CodeHash, &conf, &spec, &md.LogsURI, &created, &updated)
		st.Body.Created, st.Body.Updated, st.Body.UserID = wireTime(created), wireTime(updated), user.String
		st.Body.StartTime, st.Body.EndTime = wireTimePtr(start), wireTimePtr(end)
		md.Config, md.Spec = json.RawMessage(conf), json.RawMessage(spec)
		md.ParentStepIDs = []string{}
		st.Metadata, st.Resources = &md, &client.NoResources{}
		st.Body.Inputs, st.Body.Outputs = map[string][]string{}, map[string][]string{}
		return st.ID, st, err
	})
	if err != nil || len(steps) == 0 {
		return steps, err
	}
	byID := map[string]*client.Step{}
	for i := range steps {
		byID[steps[i].ID] = &steps[i]
	}
	rows, err := q.Query(ctx, "SELECT step_id, kind, name, artifact_version_id FROM step_run_artifacts WHERE step_id IN ("+idMarks(ids)+") ORDER BY name, artifact_version_id", idArgs(ids)...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var sid, kind, name, av string
		if err := rows.Scan(&sid, &kind, &name, &av); err != nil {
			rows.Close()
			return nil, err
		}
		if st := byID[sid]; st != nil {
			if kind == "input" {
				st.Body.Inputs[name] = append(st.Body.Inputs[name], av)
			} else {
				st.Body.Outputs[name] = append(st.Body.Outputs[name], av)
			}
		}
	}
	rows.Close()
	if !hydrate {
		for i := range steps {
			steps[i].Metadata = nil
		}
		return steps, rows.Err()
	}
	rows, err = q.Query(ctx, "SELECT step_id, parent_id FROM step_run_parents WHERE step_id IN ("+idMarks(ids)+") ORDER BY parent_id", idArgs(ids)...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var sid, pid string
		if err := rows.Scan(&sid, &pid); err != nil {
			rows.Close()
			return nil, err
		}
		byID[sid].Metadata.ParentStepIDs = append(byID[sid].Metadata.ParentStepIDs, pid)
	}
	rows.Close()
	md, err := metadataOf(ctx, q, "step_run", ids)
	if err != nil {
		return nil, err
	}
	for i := range steps {
		steps[i].Metadata.RunMetadata = metaMap(md, steps[i].ID)
	}
	return steps, nil
}

func (s *Store) Step(ctx context.Context, id string, hydrate bool) (client.Step, error) {
	return one(ctx, s.db, id, "step run", hydrate, s.getSteps)
}

// ListSteps lists steps; consumes_artifact_version_id narrows them to the
// steps, of any run, that read that artifact version: lineage forward,
// across runs (the inverse of artifact versions' consumed_by_step_id).
func (s *Store) ListSteps(ctx context.Context, lq *listQuery) (client.Page[client.Step], error) {
	// The SDK looks for a cached step with cache_expired=false. A step's
	// cache never expires here (no expiry is recorded), so false asks
	// nothing and true matches no step.
	expired, err := lq.flag("cache_expired")
	if err != nil {
		return client.Page[client.Step]{}, err
	}
	if expired {
		lq.addScope("1 = 0")
	}
	if av := lq.params.Get("consumes_artifact_version_id"); av != "" {
		if !validID(av) {
			return client.Page[client.Step]{}, errs.E(errs.Invalid, "consumes_artifact_version_id must be an artifact version id, not %q", av)
		}
		lq.addScope("id IN (SELECT step_id FROM step_run_artifacts WHERE artifact_version_id = ? AND kind = 'input')", strings.ToLower(av))
	}
	return pageOf(ctx, s, stepSpec, lq, s.getSteps)
}

// CreateStep records a step of a run with the artifact versions it read and
// wrote. The outputs' producer becomes this step unless they have one. All of
// it, or nothing, is written. Each kind of row is checked and written with
// one statement whatever the number of parents and links, and the answer is
// made from what was written rather than read back.
func (s *Store) CreateStep(ctx context.Context, userID, projectID string, r client.StepRequest) (client.Step, error) {
	if s.stepGroup != nil {
		return s.stepGroup.create(ctx, userID, projectID, r)
	}
	return s.createStep(ctx, userID, projectID, r)
}

// createStep creates one step on its own.
func (s *Store) createStep(ctx context.Context, userID, projectID string, r client.StepRequest) (client.Step, error) {
	j := &stepJob{ctx: ctx, userID: userID, projectID: projectID, req: r}
	if err := s.writeSteps(ctx, []*stepJob{j}); err != nil {
		return client.Step{}, err
	}
	return j.st, nil
}

// wireTimeArg is wireTimePtr for a value made by timeArg or defaultTimes.
func wireTimeArg(v any) *client.Time {
	us, ok := v.(int64)
	if !ok {
		return nil
	}
	t := wireTime(us)
	return &t
}

// UpdateStep changes a step's status and end, and adds outputs.
func (s *Store) UpdateStep(ctx context.Context, id string, u client.StepUpdate) (client.Step, error) {
	var runID string
	err := s.db.inTx(ctx, func(tx *storeTx) error {
		var projectID string
		if err := tx.QueryRow(ctx, "SELECT pipeline_run_id, project_id FROM step_runs WHERE id = ?", id).Scan(&runID, &projectID); err != nil {
			return notFound(err, "step run", id)
		}
		sets := updates{}
		sets.add(u.Status != nil, "status", u.Status)
		switch {
		case u.EndTime != nil:
			sets.add(true, "end_time", timeArg(u.EndTime))
		case u.Status != nil && slices.Contains(finished, *u.Status):
			sets.add(true, "end_time", s.now())
		}
		if err := s.update(ctx, tx, "step_runs", "step run", id, sets); err != nil {
			return err
		}
		return s.linkOutputs(ctx, tx, id, runID, projectID, u.Outputs)
	})
	if err != nil {
		return client.Step{}, err
	}
	if u.Status != nil {
		s.syncRunStatuses(ctx, runID)
	}
	return s.Step(ctx, id, true)
}

// stepRun returns the run and project of a step, for authorization.
func (s *Store) stepRun(ctx context.Context, id string) (runID, projectID, userID string, err error) {
	if !validID(id) {
		return "", "", "", errs.E(errs.NotFound, "step run %s not found", id)
	}
	var user sql.NullString
	err = s.db.QueryRow(ctx, "SELECT pipeline_run_id, project_id, user_id FROM step_runs WHERE id = ?", id).Scan(&runID, &projectID, &user)
	return runID, projectID, user.String, notFound(err, "step run", id)
}

// defaultTimes fills what a status implies: a started run or step has a
// start time, a finished one an end time.
func defaultTimes(status string, start, end any, now int64) (any, any) {
	if start == nil && status != client.StatusInitializing {
		start = now
	}
	if end == nil && slices.Contains(finished, status) {
		end = now
	}
	return start, end
}
