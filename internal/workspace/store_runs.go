package workspace

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

var runSpec = &listSpec{table: "pipeline_runs", fields: baseFields(map[string]field{
	"name":                {col: "name", kind: kString, sort: true, grams: runNameGrams},
	"status":              {col: "status", kind: kString, enum: client.Statuses},
	"project_id":          {col: "project_id", kind: kID},
	"user_id":             {col: "user_id", kind: kID},
	"pipeline_id":         {col: "pipeline_id", kind: kID},
	"snapshot_id":         {col: "snapshot_id", kind: kID},
	"stack_id":            {col: "stack_id", kind: kID},
	"orchestrator_run_id": {col: "orchestrator_run_id", kind: kString},
	"start_time":          {col: "start_time", kind: kTime, sort: true},
	"end_time":            {col: "end_time", kind: kTime, sort: true},
	"index":               {col: "run_index", kind: kInt},
}), params: append(slices.Clone(projectParams), "in_progress")}

// inProgress are the statuses of a run that has not ended.
var inProgress = []string{client.StatusInitializing, client.StatusRunning, client.StatusStopping, client.StatusRetrying}

// finished are the statuses that end a run or step.
var finished = []string{client.StatusCompleted, client.StatusFailed, client.StatusCached, client.StatusStopped}

const runCols = "id, name, project_id, user_id, snapshot_id, pipeline_id, stack_id, status, orchestrator_run_id, run_index, start_time, end_time, created, updated"

// runReadCols are the columns a run is read with in dialect d: runCols,
// then, with withTags, its tags and, hydrated, its metadata, each as a JSON
// object made by a subquery. A single run is then one statement: one round
// trip to the database instead of two. A page reads the tags of all its
// runs in one query of its own instead (see pageTags): there a subquery per
// run costs PostgreSQL more than the round trip it saves.
func runReadCols(d sqldb.Dialect, withTags, hydrate bool) string {
	return runColsOf[runColsKey{d, withTags, hydrate}]
}

// runColsOf holds the texts of runReadCols, made once: they are asked for
// on every read of a run.
var runColsOf = func() map[runColsKey]string {
	m := map[runColsKey]string{}
	for _, d := range []sqldb.Dialect{sqldb.SQLite, sqldb.Postgres, sqldb.MySQL} {
		for _, withTags := range []bool{false, true} {
			for _, hydrate := range []bool{false, true} {
				m[runColsKey{d, withTags, hydrate}] = buildRunReadCols(d, withTags, hydrate)
			}
		}
	}
	return m
}()

type runColsKey struct {
	d                 sqldb.Dialect
	withTags, hydrate bool
}

func buildRunReadCols(d sqldb.Dialect, withTags, hydrate bool) string {
	tags := "NULL"
	if withTags {
		tags = "(SELECT " + sqldb.JSONObjects(d, "t.id", sqldb.JSONArray(d, "t.name", "t.color")) +
			" FROM tag_resources tr JOIN tags t ON t.id = tr.tag_id WHERE tr.resource_type = '" + tagRun + "' AND tr.resource_id = pipeline_runs.id)"
	}
	md := "NULL"
	if hydrate {
		md = "(SELECT " + sqldb.JSONObjects(d, "m.mkey", "m.mvalue") +
			" FROM run_metadata m WHERE m.resource_type = 'pipeline_run' AND m.resource_id = pipeline_runs.id)"
	}
	return runCols + ", " + tags + ", " + md
}

// scanRun scans the runReadCols of a run, after the destinations in extra.
func scanRun(rows *sql.Rows, hydrate bool, extra ...any) (client.Run, error) {
	var r client.Run
	var user, pipeline, stack, orch, tags, md sql.NullString
	var start, end sql.NullInt64
	var created, updated int64
	dest := make([]any, 0, len(extra)+16)
	dest = append(dest, extra...)
	err := rows.Scan(append(dest, &r.ID, &r.Name, &r.Body.ProjectID, &user, &r.Body.SnapshotID, &pipeline, &stack, &r.Body.Status, &orch, &r.Body.Index, &start, &end, &created, &updated, &tags, &md)...)
	if err != nil {
		return r, err
	}
	b := &r.Body
	b.Created, b.Updated, b.UserID = wireTime(created), wireTime(updated), user.String
	b.PipelineID, b.StackID, b.OrchestratorRunID = strPtr(pipeline), strPtr(stack), strPtr(orch)
	b.StartTime, b.EndTime = wireTimePtr(start), wireTimePtr(end)
	b.InProgress = slices.Contains(inProgress, b.Status)
	refs, err := tagRefsJSON(tags.String)
	if err != nil {
		return r, err
	}
	r.Resources = &client.Tagged{Tags: refs}
	if hydrate {
		m, err := metadataJSON(md.String)
		if err != nil {
			return r, err
		}
		r.Metadata = &client.RunMetadata{RunMetadata: m}
	}
	return r, nil
}

// tagRefsJSON reads the tags of runReadCols (id → [name, color]), sorted
// by name.
func tagRefsJSON(s string) ([]client.TagRef, error) {
	refs := []client.TagRef{}
	if s == "" || s == "{}" {
		return refs, nil
	}
	var tags map[string][2]string
	if err := json.Unmarshal([]byte(s), &tags); err != nil {
		return nil, fmt.Errorf("read tags: %w", err)
	}
	for id, t := range tags {
		refs = append(refs, client.TagRef{ID: id, Name: t[0], Color: t[1]})
	}
	slices.SortFunc(refs, func(a, b client.TagRef) int { return strings.Compare(a.Name, b.Name) })
	return refs, nil
}

// metadataJSON reads the metadata of runReadCols: keys and their values,
// which are stored as JSON text.
func metadataJSON(s string) (map[string]any, error) {
	m := map[string]any{}
	if s == "" || s == "{}" {
		return m, nil
	}
	var texts map[string]string
	if err := json.Unmarshal([]byte(s), &texts); err != nil {
		return nil, fmt.Errorf("read run metadata: %w", err)
	}
	for k, v := range texts {
		m[k] = metaValue(v)
	}
	return m, nil
}

func (s *Store) getRuns(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.Run, error) {
	one := len(ids) == 1
	rs, err := byIDs(ctx, q, runReadCols(q.Dialect(), one, hydrate), "pipeline_runs", ids, func(rows *sql.Rows) (string, client.Run, error) {
		r, err := scanRun(rows, hydrate)
		return r.ID, r, err
	})
	if err != nil || one {
		return rs, err
	}
	return rs, pageTags(ctx, q, rs)
}

// pageTags reads the tags of the runs of a page, in one query.
func pageTags(ctx context.Context, q sqldb.Querier, rs []client.Run) error {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	tags, err := tagsOf(ctx, q, tagRun, ids)
	if err != nil {
		return err
	}
	for i := range rs {
		rs[i].Resources = &client.Tagged{Tags: tagRefs(tags, rs[i].ID)}
	}
	return nil
}

func (s *Store) Run(ctx context.Context, id string, hydrate bool) (client.Run, error) {
	return one(ctx, s.db, id, "pipeline run", hydrate, s.getRuns)
}

// runOwner returns what authorizing an action on a run needs: its id, its
// project and its owner, in one small query, or from memory: a run's project
// and owner are set when it is created and never change, so a run asked for
// again costs no query. A run deleted meanwhile (on another replica) may be
// answered from memory still; writes that refer to it then fail on its
// foreign key.
func (s *Store) runOwner(ctx context.Context, id string) (runID, projectID, userID string, err error) {
	if !validID(id) {
		return "", "", "", errs.E(errs.NotFound, "pipeline run %s not found", id)
	}
	id = strings.ToLower(id)
	if o, ok := s.owners.get(id); ok {
		return id, o.projectID, o.userID, nil
	}
	var user sql.NullString
	err = s.db.QueryRow(keyRead(ctx, s.db.Dialect()), "SELECT id, project_id, user_id FROM pipeline_runs WHERE id = ?", id).Scan(&runID, &projectID, &user)
	if err != nil {
		return "", "", "", notFound(err, "pipeline run", id)
	}
	s.owners.put(runID, runOwnerOf{projectID: projectID, userID: user.String})
	return runID, projectID, user.String, nil
}

type runOwnerOf struct{ projectID, userID string }

// maxOwners bounds the runs whose project and owner are kept (about 100
// bytes each).
const maxOwners = 16384

func (s *Store) ListRuns(ctx context.Context, lq *listQuery) (client.Page[client.Run], error) {
	tagScope(lq, tagRun)
	if v := lq.params.Get("in_progress"); v != "" {
		on, err := httpapi.ParseBool("in_progress", v)
		if err != nil {
			return client.Page[client.Run]{}, err
		}
		statuses := finished
		if on {
			statuses = inProgress
		}
		lq.addScope("status IN ("+placeholders(len(statuses))+")", strArgs(statuses)...)
	}
	// The rows come with the page's query when it starts at its first row.
	rs := make([]client.Run, 0, min(lq.size, 256))
	rr := &rowReader{cols: runReadCols(s.db.Dialect(), false, lq.hydrate), scan: func(rows *sql.Rows, v *sql.NullInt64) (string, error) {
		r, err := scanRun(rows, lq.hydrate, v)
		rs = append(rs, r)
		return r.ID, err
	}}
	ids, total, direct, err := s.listIDs(ctx, s.db, runSpec, lq, rr)
	if err != nil {
		return client.Page[client.Run]{}, err
	}
	if direct {
		err = pageTags(ctx, s.db, rs)
	} else {
		rs, err = s.getRuns(ctx, s.db, ids, lq.hydrate)
	}
	if err != nil {
		return client.Page[client.Run]{}, err
	}
	return newPage(lq, total, rs), nil
}

func strArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// CreateRun starts a run of a snapshot of the same project. The run's index
// counts the runs of its pipeline; the counter row is locked by the update,
// so two runs started at once get different indexes.
func (s *Store) CreateRun(ctx context.Context, userID, projectID string, r client.RunRequest) (client.Run, error) {
	id := s.idFunc()
	err := s.runTx(ctx, func(tx *sqldb.Tx, changed func(...string)) error {
		var snapProject string
		var pipeline, stack sql.NullString
		err := tx.QueryRow(ctx, "SELECT project_id, pipeline_id, stack_id FROM pipeline_snapshots WHERE id = ?", r.Snapshot).Scan(&snapProject, &pipeline, &stack)
		if err != nil {
			return notFound(err, "snapshot", r.Snapshot)
		}
		if snapProject != projectID {
			return errs.E(errs.Invalid, "snapshot %s belongs to another project", r.Snapshot)
		}
		var index int64
		if pipeline.Valid {
			if _, err := tx.Exec(ctx, "UPDATE pipelines SET run_count = run_count + 1 WHERE id = ?", pipeline.String); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, "SELECT run_count FROM pipelines WHERE id = ?", pipeline.String).Scan(&index); err != nil {
				return err
			}
		}
		now := s.now()
		start, end := defaultTimes(r.Status, timeArg(r.StartTime), timeArg(r.EndTime), now)
		_, err = tx.Exec(ctx, "INSERT INTO pipeline_runs ("+runCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			id, r.Name, projectID, emptyNull(userID), r.Snapshot, pipeline, stack, r.Status, nullStr(r.OrchestratorRunID), index,
			start, end, now, now)
		if err != nil {
			return writeErr(err, "pipeline run")
		}
		if err := s.setTags(ctx, tx, tagRun, id, userID, r.Tags, nil); err != nil {
			return err
		}
		return movedTags(ctx, tx, r.Tags, changed)
	})
	if err != nil {
		return client.Run{}, err
	}
	// Its steps, written next, are authorized by its project and owner.
	s.owners.put(strings.ToLower(id), runOwnerOf{projectID: projectID, userID: userID})
	return s.Run(ctx, id, true)
}

// GetOrCreateRun creates r, or, when its name is taken and r names an
// orchestrator run id, returns the run of the same snapshot and
// orchestrator run id, with created false.
func (s *Store) GetOrCreateRun(ctx context.Context, userID, projectID string, r client.RunRequest) (client.Run, bool, error) {
	run, err := s.CreateRun(ctx, userID, projectID, r)
	if err == nil {
		return run, true, nil
	}
	if !errs.Is(err, errs.Conflict) || r.OrchestratorRunID == nil || *r.OrchestratorRunID == "" {
		return client.Run{}, false, err
	}
	var id string
	lookErr := s.db.QueryRow(ctx, "SELECT id FROM pipeline_runs WHERE project_id = ? AND snapshot_id = ? AND orchestrator_run_id = ? AND name = ?",
		projectID, r.Snapshot, *r.OrchestratorRunID, r.Name).Scan(&id)
	if errors.Is(lookErr, sql.ErrNoRows) {
		return client.Run{}, false, err
	}
	if lookErr != nil {
		return client.Run{}, false, lookErr
	}
	run, err = s.Run(ctx, id, true)
	return run, false, err
}

// UpdateRun changes a run's status, end, orchestrator id or tags. A status
// that ends the run sets its end time if none is given.
func (s *Store) UpdateRun(ctx context.Context, userID, id string, u client.RunUpdate) (client.Run, error) {
	err := s.runTx(ctx, func(tx *sqldb.Tx, changed func(...string)) error {
		sets := updates{}
		sets.add(u.Status != nil, "status", u.Status)
		sets.add(u.OrchestratorRunID != nil, "orchestrator_run_id", u.OrchestratorRunID)
		switch {
		case u.EndTime != nil:
			sets.add(true, "end_time", timeArg(u.EndTime))
		case u.Status != nil && slices.Contains(finished, *u.Status):
			sets.add(true, "end_time", s.now())
		}
		if u.Status != nil && *u.Status == client.StatusRunning {
			sets.add(true, "start_time", s.now())
			sets.cols[len(sets.cols)-1] = "start_time = COALESCE(start_time, ?)"
		}
		changed(id)
		if err := s.updateTaggedTx(ctx, tx, runsTable, userID, id, sets, u.AddTags, u.RemoveTags); err != nil {
			return err
		}
		return movedTags(ctx, tx, u.AddTags, changed)
	})
	if err != nil {
		return client.Run{}, err
	}
	return s.Run(ctx, id, true)
}

// StopRun ends a run that is in progress as stopped, with the steps of it
// that are in progress, in one transaction. It reports whether the run was
// in progress: a run that ended meanwhile keeps how it ended.
func (s *Store) StopRun(ctx context.Context, id string) (bool, error) {
	now := s.now()
	marks := placeholders(len(inProgress))
	var stopped bool
	err := s.runTx(ctx, func(tx *sqldb.Tx, changed func(...string)) error {
		res, err := tx.Exec(ctx, "UPDATE pipeline_runs SET status = ?, end_time = ?, updated = ? WHERE id = ? AND status IN ("+marks+")",
			append([]any{client.StatusStopped, now, now, id}, strArgs(inProgress)...)...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		stopped = true
		changed(id)
		_, err = tx.Exec(ctx, "UPDATE step_runs SET status = ?, end_time = ?, updated = ? WHERE pipeline_run_id = ? AND status IN ("+marks+")",
			append([]any{client.StatusStopped, now, now, id}, strArgs(inProgress)...)...)
		return err
	})
	return stopped, err
}

// DeleteRun removes a run with its steps, their links and metadata.
func (s *Store) DeleteRun(ctx context.Context, id string) error {
	defer s.owners.forget(strings.ToLower(id))
	// Steps go first: a step's parent links point at steps of the same run.
	return s.runTx(ctx, func(tx *sqldb.Tx, changed func(...string)) error {
		changed(id)
		return s.deleteTaggedTx(ctx, tx, runsTable, id,
			"DELETE FROM run_metadata WHERE resource_type = 'step_run' AND resource_id IN (SELECT id FROM step_runs WHERE pipeline_run_id = ?)",
			"DELETE FROM step_run_parents WHERE step_id IN (SELECT id FROM step_runs WHERE pipeline_run_id = ?)",
			"DELETE FROM step_runs WHERE pipeline_run_id = ?")
	})
}

// movedTags names every run as changed when one of the tags added is
// exclusive: it may have left another run.
func movedTags(ctx context.Context, tx *sqldb.Tx, added []string, changed func(...string)) error {
	if len(added) == 0 {
		return nil
	}
	var n int
	err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM tags WHERE is_exclusive = ? AND name IN ("+placeholders(len(added))+")",
		append([]any{true}, strArgs(added)...)...).Scan(&n)
	if n > 0 {
		changed(allRuns)
	}
	return err
}
