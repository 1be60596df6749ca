package workspace

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"sort"

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
}), params: []string{"project", "user"}}

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

func (s *Store) ListSteps(ctx context.Context, lq *listQuery) (client.Page[client.Step], error) {
	return pageOf(ctx, s, stepSpec, lq, s.getSteps)
}

// CreateStep records a step of a run with the artifact versions it read and
// wrote. The outputs' producer becomes this step unless they have one. All of
// it, or nothing, is written.
func (s *Store) CreateStep(ctx context.Context, userID string, r client.StepRequest) (client.Step, error) {
	id := s.idFunc()
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var projectID string
		if err := tx.QueryRow(ctx, "SELECT project_id FROM pipeline_runs WHERE id = ?", r.PipelineRunID).Scan(&projectID); err != nil {
			return notFound(err, "pipeline run", r.PipelineRunID)
		}
		for _, p := range r.ParentStepIDs {
			var run string
			if err := tx.QueryRow(ctx, "SELECT pipeline_run_id FROM step_runs WHERE id = ?", p).Scan(&run); err != nil {
				return notFound(err, "parent step", p)
			}
			if run != r.PipelineRunID {
				return errs.E(errs.Invalid, "parent step %s belongs to another run", p)
			}
		}
		logs := ""
		if r.Logs != nil {
			logs = r.Logs.URI
		}
		now := s.now()
		start, end := defaultTimes(r.Status, timeArg(r.StartTime), timeArg(r.EndTime), now)
		_, err := tx.Exec(ctx, "INSERT INTO step_runs ("+stepCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			id, r.Name, r.PipelineRunID, projectID, emptyNull(userID), r.Status, start, end,
			r.CacheKey, r.CodeHash, rawOr(r.Config, "{}"), rawOr(r.Spec, "{}"), logs, now, now)
		if err != nil {
			return writeErr(err, "step run")
		}
		for _, p := range r.ParentStepIDs {
			if _, err := tx.Exec(ctx, "INSERT INTO step_run_parents (step_id, parent_id) VALUES (?, ?)", id, p); err != nil {
				return writeErr(err, "step run")
			}
		}
		if err := s.linkArtifacts(ctx, tx, id, "input", projectID, r.Inputs); err != nil {
			return err
		}
		return s.linkOutputs(ctx, tx, id, r.PipelineRunID, projectID, r.Outputs)
	})
	if err != nil {
		return client.Step{}, err
	}
	return s.Step(ctx, id, true)
}

// linkArtifacts links artifact versions of the step's project to a step.
func (s *Store) linkArtifacts(ctx context.Context, tx *sqldb.Tx, stepID, kind, projectID string, m map[string][]string) error {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, av := range slices.Compact(slices.Sorted(slices.Values(m[name]))) {
			var p string
			if err := tx.QueryRow(ctx, "SELECT project_id FROM artifact_versions WHERE id = ?", av).Scan(&p); err != nil {
				return notFound(err, "artifact version", av)
			}
			if p != projectID {
				return errs.E(errs.Invalid, "%ss: artifact version %s belongs to another project", kind, av)
			}
			var n int
			if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM step_run_artifacts WHERE step_id = ? AND kind = ? AND name = ? AND artifact_version_id = ?", stepID, kind, name, av).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			if _, err := tx.Exec(ctx, "INSERT INTO step_run_artifacts (step_id, artifact_version_id, name, kind) VALUES (?, ?, ?, ?)", stepID, av, name, kind); err != nil {
				return writeErr(err, "step run")
			}
		}
	}
	return nil
}

func (s *Store) linkOutputs(ctx context.Context, tx *sqldb.Tx, stepID, runID, projectID string, m map[string][]string) error {
	if err := s.linkArtifacts(ctx, tx, stepID, "output", projectID, m); err != nil {
		return err
	}
	for _, avs := range m {
		for _, av := range avs {
			if _, err := tx.Exec(ctx, "UPDATE artifact_versions SET producer_step_run_id = ?, producer_pipeline_run_id = ? WHERE id = ? AND producer_step_run_id IS NULL", stepID, runID, av); err != nil {
				return err
			}
		}
	}
	return nil
}

// UpdateStep changes a step's status and end, and adds outputs.
func (s *Store) UpdateStep(ctx context.Context, id string, u client.StepUpdate) (client.Step, error) {
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var runID, projectID string
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
