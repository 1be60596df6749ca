package workspace

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// A run in progress takes its status from its steps, as the original
// server sets it whenever a step is written: orchestrators report steps,
// and the run follows. After a step is created, or its status changed, the
// status of its run becomes:
//
//   - stopped, when the run is stopping and none of its steps is in
//     progress any more (stopping, while some are);
//   - failed, when a step failed;
//   - running, while a step is in progress or fewer steps than the
//     snapshot has were reported;
//   - stopped, when a step was stopped; otherwise completed.
//
// A run that ended (completed, failed, cached, stopped) keeps how it ended:
// a late step report does not bring it back to life, and a status set
// explicitly (PUT /runs/{id}) has the last word. A run that ends gets its
// end time, and one that starts running its start time, unless set.

// deriveRunStatus is the status of a run in progress whose steps have the
// statuses counted in steps (status → number of steps), for a snapshot of
// planned steps.
func deriveRunStatus(current string, steps map[string]int64, planned int) string {
	var total, active int64
	for st, n := range steps {
		total += n
		if slices.Contains(inProgress, st) {
			active += n
		}
	}
	switch {
	case current == client.StatusStopping:
		if active > 0 {
			return client.StatusStopping
		}
		return client.StatusStopped
	case steps[client.StatusFailed] > 0:
		return client.StatusFailed
	case active > 0 || total < int64(planned):
		return client.StatusRunning
	case steps[client.StatusStopped] > 0:
		return client.StatusStopped
	default:
		return client.StatusCompleted
	}
}

// syncRunStatuses sets the status of each of the runs from its steps (see
// above). The steps are written by then, so it goes on if the request that
// wrote them is gone: the run of a last step would otherwise stay running.
// A failure is logged, and the next step written tries again.
//
// One query reads the runs in progress among them, each with its status
// and its steps counted by status, as of one moment; a run whose status
// that count leaves as it is costs nothing more. A run whose status
// changes is updated only if its status is still the one counted from
// (setRunStatus); if another writer changed it meanwhile, the run is read
// and counted again. No lock is needed: each count runs after its own
// steps were committed and sees every step committed before it, so the
// count made after the last of a run's steps were committed sees them all,
// and a status is never set from a count older than the status it replaces.
func (s *Store) syncRunStatuses(ctx context.Context, runIDs ...string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	ids := make([]string, len(runIDs))
	for i, id := range runIDs {
		ids[i] = strings.ToLower(id) // as ids are stored
	}
	ids = distinct(ids)
	live, err := s.liveRunSteps(ctx, ids)
	if err != nil {
		s.log.Warn("reading the runs whose steps were written failed", "runs", len(ids), "err", err)
		return
	}
	for _, id := range ids {
		if r, ok := live[id]; ok {
			if err := s.syncRunStatus(ctx, id, r); err != nil {
				s.log.Warn("setting a run's status from its steps failed", "run", id, "err", err)
			}
		}
	}
}

// syncRunStatus sets the status of run id, read as r, from its steps,
// reading it again each time another writer changed its status first.
func (s *Store) syncRunStatus(ctx context.Context, id string, r *runSteps) error {
	for range maxStatusTries {
		planned, err := s.plannedSteps(ctx, r.snapshotID)
		if err != nil {
			return err
		}
		next := deriveRunStatus(r.status, r.steps, planned)
		if next == r.status {
			return nil
		}
		set, err := s.setRunStatus(ctx, id, r.status, next)
		if err != nil || set {
			return err
		}
		live, err := s.liveRunSteps(ctx, []string{id})
		if err != nil {
			return err
		}
		if r = live[id]; r == nil {
			return nil // it ended meanwhile
		}
	}
	return fmt.Errorf("its status changed under %d counts in a row", maxStatusTries)
}

// maxStatusTries bounds the counts of a run whose status other writers keep
// changing: a run changes status a few times in its life.
const maxStatusTries = 8

// setRunStatus sets the status of run id to next if it is still from, and
// reports whether it was.
func (s *Store) setRunStatus(ctx context.Context, id, from, next string) (bool, error) {
	var set bool
	err := s.runTx(ctx, func(tx *sqldb.Tx, changed func(...string)) error {
		now := s.now()
		cols, args := "status = ?, start_time = COALESCE(start_time, ?)", []any{next, now}
		if slices.Contains(finished, next) {
			cols, args = cols+", end_time = COALESCE(end_time, ?)", append(args, now)
		}
		res, err := tx.Exec(ctx, "UPDATE pipeline_runs SET "+cols+", updated = ? WHERE id = ? AND status = ?", append(args, now, id, from)...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if set = n == 1; set {
			changed(id)
		}
		return err
	})
	return set, err
}

// runSteps is a run in progress as deriveRunStatus reads it.
type runSteps struct {
	status, snapshotID string
	steps              map[string]int64 // step status → number of steps
}

// inProgressSQL is inProgress as SQL's list of literals.
var inProgressSQL = "'" + strings.Join(inProgress, "', '") + "'"

// liveRunSteps reads those of the runs ids that are in progress, by id,
// with their steps counted by status, in one statement per 256 runs (one
// snapshot of the database each).
func (s *Store) liveRunSteps(ctx context.Context, ids []string) (map[string]*runSteps, error) {
	live := map[string]*runSteps{}
	for part := range slices.Chunk(ids, 256) {
		rows, err := s.db.Query(ctx, "SELECT r.id, r.status, r.snapshot_id, st.status, COUNT(st.id) FROM pipeline_runs r "+
			"LEFT JOIN step_runs st ON st.pipeline_run_id = r.id WHERE r.id IN ("+idMarks(part)+") AND r.status IN ("+inProgressSQL+") "+
			"GROUP BY r.id, r.status, r.snapshot_id, st.status", idArgs(part)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, status, snapshotID string
			var stepStatus sql.NullString
			var n int64
			if err := rows.Scan(&id, &status, &snapshotID, &stepStatus, &n); err != nil {
				rows.Close()
				return nil, err
			}
			r := live[strings.ToLower(id)]
			if r == nil {
				r = &runSteps{status: status, snapshotID: snapshotID, steps: map[string]int64{}}
				live[strings.ToLower(id)] = r
			}
			if stepStatus.Valid {
				r.steps[stepStatus.String] = n
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return live, nil
}

// plannedSteps returns how many steps a snapshot configures. A snapshot's
// steps never change, so each snapshot is read once.
func (s *Store) plannedSteps(ctx context.Context, snapshotID string) (int, error) {
	if n, ok := s.planned.get(snapshotID); ok {
		return n, nil
	}
	var text string
	if err := s.db.QueryRow(ctx, "SELECT step_configurations FROM pipeline_snapshots WHERE id = ?", snapshotID).Scan(&text); err != nil {
		return 0, notFound(err, "snapshot", snapshotID)
	}
	var steps map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &steps); err != nil {
		return 0, err
	}
	s.planned.put(snapshotID, len(steps))
	return len(steps), nil
}

// maxStepCounts bounds the snapshots whose number of steps is kept.
const maxStepCounts = 4096
