package workspace

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb"
	"github.com/enclave-mlops/enclave/internal/version"
)

// projectParams are the parameters every project-scoped list reads itself.
var projectParams = []string{"project", "user", "tag"}

var pipelineSpec = &listSpec{table: "pipelines", fields: baseFields(map[string]field{
	"name":       {col: "name", kind: kString, sort: true},
	"project_id": {col: "project_id", kind: kID},
	"user_id":    {col: "user_id", kind: kID},
}), params: projectParams}

func (s *Store) getPipelines(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.Pipeline, error) {
	ps, err := byIDs(ctx, q, "id, name, project_id, user_id, description, created, updated", "pipelines", ids, func(rows *sql.Rows) (string, client.Pipeline, error) {
		var p client.Pipeline
		var md client.PipelineMetadata
		var user sql.NullString
		var created, updated int64
		err := rows.Scan(&p.ID, &p.Name, &p.Body.ProjectID, &user, &md.Description, &created, &updated)
		p.Body.Created, p.Body.Updated, p.Body.UserID = wireTime(created), wireTime(updated), user.String
		if hydrate {
			p.Metadata = &md
		}
		return p.ID, p, err
	})
	if err != nil || len(ps) == 0 {
		return ps, err
	}
	tags, err := tagsOf(ctx, q, tagPipeline, ids)
	if err != nil {
		return nil, err
	}
	// The latest run of each pipeline is the one with the highest index.
	rows, err := q.Query(ctx, "SELECT r.pipeline_id, r.id, r.status FROM pipeline_runs r JOIN pipelines p ON p.id = r.pipeline_id AND r.run_index = p.run_count WHERE p.id IN ("+idMarks(ids)+")", idArgs(ids)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	latest := map[string][2]string{}
	for rows.Next() {
		var pid, rid, status string
		if err := rows.Scan(&pid, &rid, &status); err != nil {
			return nil, err
		}
		latest[pid] = [2]string{rid, status}
	}
	for i := range ps {
		res := &client.PipelineResources{Tags: tagRefs(tags, ps[i].ID)}
		if l, ok := latest[ps[i].ID]; ok {
			res.LatestRunID, res.LatestRunStatus = &l[0], &l[1]
		}
		ps[i].Resources = res
	}
	return ps, rows.Err()
}

func (s *Store) Pipeline(ctx context.Context, id string, hydrate bool) (client.Pipeline, error) {
	return one(ctx, s.db, id, "pipeline", hydrate, s.getPipelines)
}

func (s *Store) ListPipelines(ctx context.Context, lq *listQuery) (client.Page[client.Pipeline], error) {
	tagScope(lq, tagPipeline)
	return pageOf(ctx, s, pipelineSpec, lq, s.getPipelines)
}

func (s *Store) CreatePipeline(ctx context.Context, userID, projectID string, r client.PipelineRequest) (client.Pipeline, error) {
	id := s.idFunc()
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		now := s.now()
		_, err := tx.Exec(ctx, "INSERT INTO pipelines (id, name, project_id, user_id, description, run_count, created, updated) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
			id, r.Name, projectID, emptyNull(userID), r.Description, now, now)
		if err != nil {
			return writeErr(err, "pipeline")
		}
		return s.setTags(ctx, tx, tagPipeline, id, userID, r.Tags, nil)
	})
	if err != nil {
		return client.Pipeline{}, err
	}
	return s.Pipeline(ctx, id, true)
}

func (s *Store) UpdatePipeline(ctx context.Context, userID, id string, u client.PipelineUpdate) (client.Pipeline, error) {
	sets := updates{}
	sets.add(u.Description != nil, "description", u.Description)
	return updateTagged(ctx, s, pipelinesTable, userID, id, sets, u.AddTags, u.RemoveTags, s.Pipeline)
}

// DeletePipeline removes a pipeline; its runs and snapshots stay, without it.
// DeletePipeline removes a pipeline; its runs stay, without it.
func (s *Store) DeletePipeline(ctx context.Context, id string) error {
	return s.runTx(ctx, func(tx *sqldb.Tx, changed func(...string)) error {
		changed(allRuns)
		return s.deleteTaggedTx(ctx, tx, pipelinesTable, id)
	})
}

// ---- snapshots

var snapshotSpec = &listSpec{table: "pipeline_snapshots", fields: baseFields(map[string]field{
	"name":        {col: "name", kind: kString, sort: true},
	"project_id":  {col: "project_id", kind: kID},
	"user_id":     {col: "user_id", kind: kID},
	"pipeline_id": {col: "pipeline_id", kind: kID},
	"stack_id":    {col: "stack_id", kind: kID},
	"build_id":    {col: "build_id", kind: kID},
	"schedule_id": {col: "schedule_id", kind: kID},
	"runnable":    {col: "runnable", kind: kBool},
}), params: projectParams}

const snapshotCols = "id, name, description, project_id, user_id, pipeline_id, stack_id, build_id, schedule_id, run_name_template, pipeline_configuration, step_configurations, pipeline_spec, client_version, server_version, runnable, created, updated"

func (s *Store) getSnapshots(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.Snapshot, error) {
	cols := snapshotCols
	if !hydrate { // leave the big JSON columns unread
		cols = "id, name, '', project_id, user_id, pipeline_id, stack_id, build_id, schedule_id, '', '{}', '{}', '{}', '', '', runnable, created, updated"
	}
	ss, err := byIDs(ctx, q, cols, "pipeline_snapshots", ids, func(rows *sql.Rows) (string, client.Snapshot, error) {
		var sn client.Snapshot
		var md client.SnapshotMetadata
		var name, user, pipeline, stack, build, schedule sql.NullString
		var pconf, sconf, spec string
		var created, updated int64
		err := rows.Scan(&sn.ID, &name, &md.Description, &sn.Body.ProjectID, &user, &pipeline, &stack, &build, &schedule,
			&md.RunNameTemplate, &pconf, &sconf, &spec, &md.ClientVersion, &md.ServerVersion, &sn.Body.Runnable, &created, &updated)
		sn.Name = name.String
		sn.Body.Created, sn.Body.Updated, sn.Body.UserID = wireTime(created), wireTime(updated), user.String
		md.PipelineID, md.StackID, md.BuildID, md.ScheduleID = pipeline.String, stack.String, strPtr(build), strPtr(schedule)
		md.PipelineConfiguration, md.PipelineSpec = json.RawMessage(pconf), json.RawMessage(spec)
		_ = json.Unmarshal([]byte(sconf), &md.StepConfigurations)
		if md.StepConfigurations == nil {
			md.StepConfigurations = map[string]json.RawMessage{}
		}
		if hydrate {
			sn.Metadata = &md
		}
		return sn.ID, sn, err
	})
	if err != nil || len(ss) == 0 {
		return ss, err
	}
	tags, err := tagsOf(ctx, q, tagSnapshot, ids)
	for i := range ss {
		ss[i].Resources = &client.Tagged{Tags: tagRefs(tags, ss[i].ID)}
	}
	return ss, err
}

func (s *Store) Snapshot(ctx context.Context, id string, hydrate bool) (client.Snapshot, error) {
	return one(ctx, s.db, id, "snapshot", hydrate, s.getSnapshots)
}

func (s *Store) ListSnapshots(ctx context.Context, lq *listQuery) (client.Page[client.Snapshot], error) {
	tagScope(lq, tagSnapshot)
	return pageOf(ctx, s, snapshotSpec, lq, s.getSnapshots)
}

// CreateSnapshot stores a snapshot; pipeline and stack must exist, the
// pipeline in the same project.
func (s *Store) CreateSnapshot(ctx context.Context, userID, projectID string, r client.SnapshotRequest) (client.Snapshot, error) {
	id := s.idFunc()
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		pipelineID, err := s.ref(ctx, tx, "pipelines", "pipeline", r.Pipeline, projectID)
		if err != nil {
			return err
		}
		stackID, err := s.ref(ctx, tx, "stacks", "stack", r.Stack, "")
		if err != nil {
			return err
		}
		if r.ServerVersion == "" {
			r.ServerVersion = version.Version
		}
		now := s.now()
		_, err = tx.Exec(ctx, "INSERT INTO pipeline_snapshots ("+snapshotCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			id, emptyNull(r.Name), r.Description, projectID, emptyNull(userID), pipelineID, stackID, nullStr(r.Build), nullStr(r.Schedule),
			r.RunNameTemplate, rawOr(r.PipelineConfiguration, "{}"), jsonText(r.StepConfigurations), rawOr(r.PipelineSpec, "{}"),
			r.ClientVersion, r.ServerVersion, r.Build != nil, now, now)
		if err != nil {
			return writeErr(err, "snapshot")
		}
		return s.setTags(ctx, tx, tagSnapshot, id, userID, r.Tags, nil)
	})
	if err != nil {
		return client.Snapshot{}, err
	}
	return s.Snapshot(ctx, id, true)
}

func (s *Store) UpdateSnapshot(ctx context.Context, userID, id string, u client.SnapshotUpdate) (client.Snapshot, error) {
	sets := updates{}
	sets.add(u.Name != nil, "name", u.Name)
	sets.add(u.Description != nil, "description", u.Description)
	return updateTagged(ctx, s, snapshotsTable, userID, id, sets, u.AddTags, u.RemoveTags, s.Snapshot)
}

// DeleteSnapshot removes a snapshot no run refers to.
func (s *Store) DeleteSnapshot(ctx context.Context, id string) error {
	return s.deleteTagged(ctx, snapshotsTable, id)
}
