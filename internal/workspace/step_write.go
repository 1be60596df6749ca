package workspace

// How steps are written: a group of steps created together (stepGroup)
// with one statement per kind of row, and outputs added to a step.

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// stepWidth is the number of columns of a step_runs row.
const stepWidth = 15

// stepBatch is the rows of a group of steps (each of the run its request
// names, of the project its job names: the caller has read and authorized
// the runs), made before anything is written.
type stepBatch struct {
	jobs    []*stepJob
	rows    []any // of step_runs, stepWidth values each
	parents []any // of step_run_parents
	links   []stepLinks
}

type stepLinks struct{ inputs, outputs map[string][]string }

// newStepBatch makes the rows of jobs and sets each job's st to its step as
// a read would return it once written.
func (s *Store) newStepBatch(jobs []*stepJob) *stepBatch {
	now := s.now()
	b := &stepBatch{jobs: jobs, rows: make([]any, 0, stepWidth*len(jobs)), links: make([]stepLinks, len(jobs))}
	for i, j := range jobs {
		r := &j.req
		id := s.idFunc()
		start, end := defaultTimes(r.Status, timeArg(r.StartTime), timeArg(r.EndTime), now)
		lk := stepLinks{linkSet(r.Inputs), linkSet(r.Outputs)}
		b.links[i] = lk
		logs := ""
		if r.Logs != nil {
			logs = r.Logs.URI
		}
		b.rows = append(b.rows, id, r.Name, r.PipelineRunID, j.projectID, emptyNull(j.userID), r.Status, start, end,
			r.CacheKey, r.CodeHash, rawOr(r.Config, "{}"), rawOr(r.Spec, "{}"), logs, now, now)
		for _, p := range r.ParentStepIDs {
			b.parents = append(b.parents, id, p)
		}
		parents := slices.Sorted(slices.Values(r.ParentStepIDs))
		if parents == nil {
			parents = []string{}
		}
		st := client.Step{ID: id, Name: r.Name, Resources: &client.NoResources{}}
		st.Body.ProjectID, st.Body.UserID, st.Body.Status = j.projectID, j.userID, r.Status
		st.Body.Created, st.Body.Updated = wireTime(now), wireTime(now)
		st.Body.StartTime, st.Body.EndTime = wireTimeArg(start), wireTimeArg(end)
		st.Body.Inputs, st.Body.Outputs = lk.inputs, lk.outputs
		st.Metadata = &client.StepMetadata{PipelineRunID: r.PipelineRunID, CacheKey: r.CacheKey, CodeHash: r.CodeHash,
			Config: json.RawMessage(rawOr(r.Config, "{}")), Spec: json.RawMessage(rawOr(r.Spec, "{}")), LogsURI: logs,
			ParentStepIDs: parents, RunMetadata: map[string]any{}}
		j.st = st
	}
	return b
}

// insertSteps begins the statement that writes step rows, before their
// VALUES lists.
const insertSteps = "INSERT INTO step_runs (" + stepCols + ") VALUES "

// oneStatement reports whether the batch is written by one statement: no
// parents, no artifacts, rows within the limit on placeholders.
func (b *stepBatch) oneStatement() bool {
	if len(b.parents) > 0 || len(b.rows) > maxInArgs/stepWidth*stepWidth {
		return false
	}
	for _, l := range b.links {
		if len(l.inputs)+len(l.outputs) > 0 {
			return false
		}
	}
	return true
}

// writeSteps writes the steps of jobs, all or none, sets each job's st,
// and then sets the status of their runs from their steps (see
// run_status.go). Each kind of row is written with one statement for all
// the jobs (as few as the limit on placeholders allows), so a group of
// steps costs the database about what one step does in statements and
// round trips. On SQLite the runs' statuses are set in the transaction that
// wrote the steps, one commit for both; elsewhere they are counted after
// the commit, and a group that is one statement runs outside a transaction
// (two round trips fewer). The runs' existence is checked by the foreign
// key. Any error fails the whole group; a group then creates each step
// alone to learn whose it was.
func (s *Store) writeSteps(ctx context.Context, jobs []*stepJob) error {
	if len(jobs) == 0 {
		return nil
	}
	b := s.newStepBatch(jobs)
	runs := make([]string, len(jobs))
	for i, j := range jobs {
		runs[i] = j.req.PipelineRunID
	}
	switch {
	case s.db.Dialect() == sqldb.SQLite:
		var set []string
		err := s.db.inTx(ctx, func(tx *storeTx) error {
			if err := s.writeBatch(ctx, tx, b); err != nil {
				return err
			}
			var err error
			set, err = s.syncRunStatusesInTx(ctx, tx, runs)
			return err
		})
		if err == nil {
			s.docs.forget(set...)
		}
		return err
	case b.oneStatement():
		_, err := s.db.Exec(ctx, insertSteps+rowMarks(stepWidth, len(jobs)), b.rows...)
		if err := b.stepsErr(err); err != nil {
			return err
		}
	default:
		if err := s.db.inTx(ctx, func(tx *storeTx) error { return s.writeBatch(ctx, tx, b) }); err != nil {
			return err
		}
	}
	s.syncRunStatuses(ctx, runs...)
	return nil
}

// stepsErr is the error of writing the batch's step rows.
func (b *stepBatch) stepsErr(err error) error {
	switch {
	case err == nil:
		return nil
	case !sqldb.IsForeignKeyViolation(err):
		return writeErr(err, "step run")
	case len(b.jobs) == 1:
		// The run is gone (its project and owner were read before).
		return errs.E(errs.NotFound, "pipeline run %s not found", b.jobs[0].req.PipelineRunID)
	default:
		return errs.E(errs.NotFound, "a pipeline run of the group is gone")
	}
}

// writeBatch writes b within tx, with as many statements for a group as
// for one step: the parents and the artifact versions of the whole group
// are read with one query each, and the outputs' producers set with one
// statement.
func (s *Store) writeBatch(ctx context.Context, tx *storeTx, b *stepBatch) error {
	var parents, linked []string
	for i, j := range b.jobs {
		parents = append(parents, j.req.ParentStepIDs...)
		linked = append(linked, b.links[i].ids()...)
	}
	parentRuns, err := tx.pairsByID(ctx, "SELECT id, pipeline_run_id FROM step_runs WHERE id IN ", distinct(parents))
	if err != nil {
		return err
	}
	avProjects, err := tx.pairsByID(ctx, "SELECT id, project_id FROM artifact_versions WHERE id IN ", distinct(linked))
	if err != nil {
		return err
	}
	d := tx.Dialect()
	for i, j := range b.jobs {
		if err := firstErr(checkParents(d, parentRuns, j.req.PipelineRunID, j.req.ParentStepIDs),
			checkArtifacts(d, avProjects, j.projectID, b.links[i])); err != nil {
			return err
		}
	}
	if err := b.stepsErr(tx.insertRows(ctx, insertSteps, stepWidth, b.rows)); err != nil {
		return err
	}
	if err := tx.insertRows(ctx, "INSERT INTO step_run_parents (step_id, parent_id) VALUES ", 2, b.parents); err != nil {
		return writeErr(err, "step run")
	}
	var arts []any
	for i, j := range b.jobs {
		for _, l := range b.links[i].byKind() {
			for name, avs := range l.m {
				for _, av := range avs {
					arts = append(arts, j.st.ID, av, name, l.kind)
				}
			}
		}
	}
	if err := tx.insertRows(ctx, insertLinks, 4, arts); err != nil {
		return writeErr(err, "step run")
	}
	ps := make([]producer, len(b.jobs))
	for i, j := range b.jobs {
		ps[i] = producer{j.st.ID, j.req.PipelineRunID, b.links[i].outputs}
	}
	return setProducers(ctx, tx, ps)
}

// producer is a step and the outputs it wrote.
type producer struct {
	stepID, runID string
	outputs       map[string][]string
}

// setProducers makes each output without a producer the product of the
// first of ps, in order, that wrote it, with one statement (as few as the
// limit on placeholders allows).
func setProducers(ctx context.Context, tx *storeTx, ps []producer) error {
	var outs []string
	first := map[string]*producer{}
	for i := range ps {
		for _, avs := range ps[i].outputs {
			for _, av := range avs {
				if _, ok := first[av]; !ok {
					first[av] = &ps[i]
					outs = append(outs, av)
				}
			}
		}
	}
	for part := range slices.Chunk(outs, maxInArgs/5) {
		var step, run strings.Builder
		args := make([]any, 0, 5*len(part))
		for _, av := range part {
			step.WriteString(" WHEN ? THEN ?")
			args = append(args, av, first[av].stepID)
		}
		for _, av := range part {
			run.WriteString(" WHEN ? THEN ?")
			args = append(args, av, first[av].runID)
		}
		args = append(args, strArgs(part)...)
		if _, err := tx.execOnce(ctx, "UPDATE artifact_versions SET producer_step_run_id = CASE id"+step.String()+
			" END, producer_pipeline_run_id = CASE id"+run.String()+" END WHERE id IN ("+placeholders(len(part))+
			") AND producer_step_run_id IS NULL", args...); err != nil {
			return err
		}
	}
	return nil
}

// kindLinks is one kind of a step's links, by name.
type kindLinks struct {
	kind string // input or output, as step_run_artifacts stores it
	m    map[string][]string
}

// byKind is the step's links, inputs then outputs.
func (l stepLinks) byKind() [2]kindLinks {
	return [2]kindLinks{{"input", l.inputs}, {"output", l.outputs}}
}

// ids is every artifact version the step links, inputs then outputs.
func (l stepLinks) ids() []string {
	var ids []string
	for _, k := range l.byKind() {
		for _, avs := range k.m {
			ids = append(ids, avs...)
		}
	}
	return ids
}

// distinct is ids sorted, without repeats.
func distinct(ids []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(ids)))
}

// linkSet is a step's links as they are stored and read back: each name's
// artifact versions sorted, without repeats.
func linkSet(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for name, avs := range m {
		out[name] = distinct(avs)
	}
	return out
}

// checkParents checks that the parents are steps of the run, by runs, the
// run of each step read.
func checkParents(d sqldb.Dialect, runs map[string]string, runID string, parents []string) error {
	for _, p := range parents {
		run, ok := lookupID(d, runs, p)
		if !ok {
			return errs.E(errs.NotFound, "parent step %s not found", p)
		}
		if run != runID {
			return errs.E(errs.Invalid, "parent step %s belongs to another run", p)
		}
	}
	return nil
}

// checkArtifacts checks that the linked artifact versions are of the
// step's project, by projects, the project of each version read, reporting
// the first wrong one in the order inputs then outputs, by name.
func checkArtifacts(d sqldb.Dialect, projects map[string]string, projectID string, lk stepLinks) error {
	for _, l := range lk.byKind() {
		for _, name := range slices.Sorted(maps.Keys(l.m)) {
			for _, av := range l.m[name] {
				p, ok := lookupID(d, projects, av)
				if !ok {
					return errs.E(errs.NotFound, "artifact version %s not found", av)
				}
				if p != projectID {
					return errs.E(errs.Invalid, "%ss: artifact version %s belongs to another project", l.kind, av)
				}
			}
		}
	}
	return nil
}

// linkOutputs adds outputs to a step that exists: the links it does not
// have yet, and the step as the producer of those without one; four
// statements whatever their number.
func (s *Store) linkOutputs(ctx context.Context, tx *storeTx, stepID, runID, projectID string, m map[string][]string) error {
	lk := stepLinks{outputs: linkSet(m)}
	ids := distinct(lk.ids())
	if len(ids) == 0 {
		return nil
	}
	projects, err := tx.pairsByID(ctx, "SELECT id, project_id FROM artifact_versions WHERE id IN ", ids)
	if err != nil {
		return err
	}
	d := tx.Dialect()
	if err := checkArtifacts(d, projects, projectID, lk); err != nil {
		return err
	}
	have, err := outputLinks(ctx, tx, stepID)
	if err != nil {
		return err
	}
	var args []any
	for name, avs := range lk.outputs {
		for _, av := range avs {
			if !have[linkKey(d, name, av)] {
				args = append(args, stepID, av, name, "output")
			}
		}
	}
	if err := tx.insertRows(ctx, insertLinks, 4, args); err != nil {
		return writeErr(err, "step run")
	}
	return setProducers(ctx, tx, []producer{{stepID, runID, lk.outputs}})
}

// insertLinks begins the statement that links steps to artifact versions.
const insertLinks = "INSERT INTO step_run_artifacts (step_id, artifact_version_id, name, kind) VALUES "

// outputLinks is the output links a step has, by linkKey.
func outputLinks(ctx context.Context, tx *storeTx, stepID string) (map[string]bool, error) {
	rows, err := tx.Query(ctx, "SELECT name, artifact_version_id FROM step_run_artifacts WHERE step_id = ? AND kind = 'output'", stepID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name, av string
		if err := rows.Scan(&name, &av); err != nil {
			return nil, err
		}
		have[linkKey(tx.Dialect(), name, av)] = true
	}
	return have, rows.Err()
}

// linkKey names a link of a step as its primary key compares them: ids
// without case, and on MySQL, whose columns compare without case, names
// too.
func linkKey(d sqldb.Dialect, name, av string) string {
	if d == sqldb.MySQL {
		name = strings.ToLower(name)
	}
	return strings.ToLower(av) + "\x00" + name
}
