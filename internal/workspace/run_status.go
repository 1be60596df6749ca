package workspace

import (
	"cmp"
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
// (setRunStatuses); those another writer changed meanwhile are read and
// counted again. No lock is needed: each count runs after its own steps
// were committed and sees every step committed before it, so the count
// made after the last of a run's steps were committed sees them all, and a
// status is never set from a count older than the status it replaces. (On
// SQLite, steps written in a group get their runs' statuses in their own
// transaction instead: syncRunStatusesInTx.)
func (s *Store) syncRunStatuses(ctx context.Context, runIDs ...string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	ids := storedIDs(runIDs)
	live, err := s.liveRunSteps(ctx, s.db, ids)
	if err == nil {
		err = s.syncLiveRuns(ctx, live)
	}
	if err != nil {
		s.log.Warn("setting the status of runs from their steps failed", "runs", len(ids), "err", err)
	}
}

// syncLiveRuns sets the status of the runs in live, as they were read,
// from their steps, reading again those whose status another writer
// changed first.
func (s *Store) syncLiveRuns(ctx context.Context, live map[string]*runSteps) error {
	for range maxStatusTries {
		changes, err := s.statusChanges(ctx, s.db, live)
		if err != nil || len(changes) == 0 {
			return err
		}
		// A transaction per run: one that locked several could deadlock
		// with a writer of the same runs in another order (a deleted
		// pipeline's runs losing it).
		var missed []string
		var first error
		for _, c := range changes {
			err := s.runTx(ctx, func(tx *sqldb.Tx, changed func(...string)) error {
				set, m, err := s.setRunStatuses(ctx, tx, []statusChange{c})
				changed(set...)
				missed = append(missed, m...)
				return err
			})
			first = cmp.Or(first, err)
		}
		if first != nil || len(missed) == 0 {
			return first
		}
		if live, err = s.liveRunSteps(ctx, s.db, missed); err != nil {
			return err
		}
	}
	return fmt.Errorf("statuses changed under %d counts in a row", maxStatusTries)
}

// syncRunStatusesInTx sets the status of each of the runs from its steps
// within tx, a transaction of SQLite that wrote steps, and returns the runs
// whose status it set. SQLite's transactions hold its one write lock from
// their start, so the count sees every step committed and the statuses
// cannot change under it: the steps and their runs' statuses are then one
// commit.
func (s *Store) syncRunStatusesInTx(ctx context.Context, tx *storeTx, runIDs []string) ([]string, error) {
	live, err := s.liveRunSteps(ctx, tx, storedIDs(runIDs))
	if err != nil {
		return nil, err
	}
	changes, err := s.statusChanges(ctx, tx, live)
	if err != nil || len(changes) == 0 {
		return nil, err
	}
	set, _, err := s.setRunStatuses(ctx, tx, changes)
	if err == nil {
		err = recordChanges(ctx, tx, set)
	}
	return set, err
}

// storedIDs is ids once each, as ids are stored.
func storedIDs(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strings.ToLower(id)
	}
	return distinct(out)
}

// maxStatusTries bounds the counts of a run whose status other writers keep
// changing: a run changes status a few times in its life.
const maxStatusTries = 8

// statusChange is a run's status to set, and the status it was counted from.
type statusChange struct{ id, from, next string }

// statusChanges derives the status of each run in live from its steps, and
// returns those that change, in the order of their ids.
func (s *Store) statusChanges(ctx context.Context, q sqldb.Querier, live map[string]*runSteps) ([]statusChange, error) {
	var changes []statusChange
	for id, r := range live {
		planned, err := s.plannedSteps(ctx, q, r.snapshotID)
		if err != nil {
			return nil, err
		}
		if next := deriveRunStatus(r.status, r.steps, planned); next != r.status {
			changes = append(changes, statusChange{id, r.status, next})
		}
	}
	slices.SortFunc(changes, func(a, b statusChange) int { return strings.Compare(a.id, b.id) })
	return changes, nil
}

// setRunStatuses sets each run's status to its next if it is still its
// from, and returns the runs set and those whose status was no longer from.
func (s *Store) setRunStatuses(ctx context.Context, q sqldb.Querier, changes []statusChange) (set, missed []string, err error) {
	now := s.now()
	for _, c := range changes {
		cols, args := "status = ?, start_time = COALESCE(start_time, ?)", []any{c.next, now}
		if slices.Contains(finished, c.next) {
			cols, args = cols+", end_time = COALESCE(end_time, ?)", append(args, now)
		}
		res, err := q.Exec(ctx, "UPDATE pipeline_runs SET "+cols+", updated = ? WHERE id = ? AND status = ?", append(args, now, c.id, c.from)...)
		if err != nil {
			return nil, nil, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, nil, err
		}
		if n == 1 {
			set = append(set, c.id)
		} else {
			missed = append(missed, c.id)
		}
	}
	return set, missed, nil
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
func (s *Store) liveRunSteps(ctx context.Context, q sqldb.Querier, ids []string) (map[string]*runSteps, error) {
	live := map[string]*runSteps{}
	for part := range slices.Chunk(ids, 256) {
		rows, err := q.Query(ctx, "SELECT r.id, r.status, r.snapshot_id, st.status, COUNT(st.id) FROM pipeline_runs r "+
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
func (s *Store) plannedSteps(ctx context.Context, q sqldb.Querier, snapshotID string) (int, error) {
	if n, ok := s.planned.get(snapshotID); ok {
		return n, nil
	}
	var text string
	if err := q.QueryRow(ctx, "SELECT step_configurations FROM pipeline_snapshots WHERE id = ?", snapshotID).Scan(&text); err != nil {
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
