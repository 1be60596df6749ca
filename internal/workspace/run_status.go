package workspace

import (
	"context"
	"database/sql"
	"encoding/json"
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
func (s *Store) syncRunStatuses(ctx context.Context, runIDs ...string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	ids := make([]string, len(runIDs))
	for i, id := range runIDs {
		ids[i] = strings.ToLower(id) // as ids are stored
	}
	ids = distinct(ids)
	// Most step reports find their run as it should be, or ended: one small
	// read for the whole group decides which runs have anything to do.
	live, err := s.runsInProgress(ctx, ids)
	if err != nil {
		s.log.Warn("reading the status of runs whose steps were written failed", "runs", len(ids), "err", err)
		return
	}
	for _, id := range ids {
		if snapshotID, ok := live[id]; ok {
			if err := s.syncRunStatus(ctx, id, snapshotID); err != nil {
				s.log.Warn("setting a run's status from its steps failed", "run", id, "err", err)
			}
		}
	}
}

// inProgressSQL is inProgress as SQL's list of literals.
var inProgressSQL = "'" + strings.Join(inProgress, "', '") + "'"

// runsInProgress returns the snapshot of each of the runs ids that is in
// progress, by id, with one query per maxInArgs ids. A group's query is not
// prepared: its length changes with the group's.
func (s *Store) runsInProgress(ctx context.Context, ids []string) (map[string]string, error) {
	live := map[string]string{}
	for part := range slices.Chunk(ids, maxInArgs) {
		q, args := "SELECT id, snapshot_id FROM pipeline_runs WHERE id IN ("+placeholders(len(part))+") AND status IN ("+inProgressSQL+")", strArgs(part)
		var rows *sql.Rows
		var err error
		if len(part) == 1 {
			rows, err = s.db.Query(ctx, q, args...)
		} else {
			rows, err = s.db.DB.Query(ctx, q, args...)
		}
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, snapshotID string
			if err := rows.Scan(&id, &snapshotID); err != nil {
				rows.Close()
				return nil, err
			}
			live[strings.ToLower(id)] = snapshotID
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return live, nil
}

func (s *Store) syncRunStatus(ctx context.Context, runID, snapshotID string) error {
	planned, err := s.plannedSteps(ctx, snapshotID)
	if err != nil {
		return err
	}
	lock := ""
	if s.db.Dialect() != sqldb.SQLite { // SQLite's writers take turns anyway
		lock = " FOR UPDATE"
	}
	var status string
	return s.runTx(ctx, func(tx *sqldb.Tx, changed func(...string)) error {
		// The run's row is locked first: syncs of one run take turns, and
		// each counts the steps committed before it got the lock.
		if err := tx.QueryRow(ctx, "SELECT status FROM pipeline_runs WHERE id = ?"+lock, runID).Scan(&status); err != nil {
			return err
		}
		if !slices.Contains(inProgress, status) {
			return nil
		}
		steps, err := countsBy(ctx, tx, "SELECT status, COUNT(*) FROM step_runs WHERE pipeline_run_id = ? GROUP BY status", runID)
		if err != nil {
			return err
		}
		next := deriveRunStatus(status, steps, planned)
		if next == status {
			return nil
		}
		changed(runID)
		now := s.now()
		set, args := "status = ?, start_time = COALESCE(start_time, ?)", []any{next, now}
		if slices.Contains(finished, next) {
			set, args = set+", end_time = COALESCE(end_time, ?)", append(args, now)
		}
		_, err = tx.Exec(ctx, "UPDATE pipeline_runs SET "+set+", updated = ? WHERE id = ?", append(args, now, runID)...)
		return err
	})
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
