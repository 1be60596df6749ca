package workspace

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
)

// The watcher follows the runner Jobs of this workspace. A runner reports
// its own progress; the watcher covers what it cannot report: a Job that
// fails before its runner ends the run (image not pulled, pod evicted,
// runner crashed), or a Job deleted from under it. Such a run is marked
// failed, with the Job's reason and the pods' logs in the run's log. A Job
// that ends, however it ends, frees its slot.
//
// It polls with a list, not a watch: the chart's Role grants list, and a
// list every few seconds per server is no load for an apiserver. Every
// replica follows every Job of the workspace, so Jobs started by a replica
// that has gone are still looked after; marking a run failed twice is
// harmless.

// watchWorkloads runs until ctx ends.
func (s *Server) watchWorkloads(ctx context.Context) {
	w := s.workloads
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for {
		s.checkWorkloads(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkWorkloads looks at every runner Job of the workspace once. (Local
// runners are followed by their processes' ends: nothing to look at.)
func (s *Server) checkWorkloads(ctx context.Context) {
	w := s.workloads
	if w.local != nil {
		return
	}
	listed := time.Now()
	jobs, err := w.m.Client.ListJobs(ctx, w.cfg.Namespace, labelWorkspace+"="+labelValue(s.serverID))
	if err != nil {
		// Slots stay taken while the apiserver cannot tell: better a 429
		// than more Jobs than allowed.
		if ctx.Err() == nil {
			s.log.Warn("workload manager: list the runner Jobs", "err", err)
		}
		return
	}
	present := map[string]bool{}
	uids := map[string]bool{}
	for i := range jobs {
		j := &jobs[i]
		runID := j.Metadata.Labels[labelRun]
		present[runID] = true
		uids[j.Metadata.UID] = true
		done, failed, reason := j.Finished()
		if !done && j.Metadata.DeletionTimestamp != "" {
			done, failed, reason = true, true, "the Job was deleted"
		}
		if !done || w.isHandled(j.Metadata.UID) {
			continue
		}
		if s.jobEnded(ctx, runID, failed, reason, w.jobLogs(runID)) {
			w.markHandled(j.Metadata.UID)
		}
	}
	// A Job this process started that is not listed was deleted (by hand,
	// or by its TTL before this server saw it end) — unless it was created
	// after the list was asked for.
	for runID, since := range w.inFlightRuns() {
		if !present[runID] && since.Before(listed) {
			s.jobEnded(ctx, runID, true, "the Job is gone", nil)
		}
	}
	w.forgetHandledExcept(uids)
}

// jobLogs returns what the pods of runID's Job wrote (get_logs), for the
// run's log when the Job failed.
func (w *workloads) jobLogs(runID string) func(context.Context) string {
	return func(ctx context.Context) string {
		logs, err := w.m.GetLogs(ctx, runID)
		if err != nil {
			return ""
		}
		return logs
	}
}

// jobEnded frees the slot of runID and fails the run if its runner did not
// end it (or stops it, if it was stopping), adding what logs returns (nil:
// nothing) to the run's log. It reports whether the runner's end has been
// dealt with for good.
func (s *Server) jobEnded(ctx context.Context, runID string, failed bool, reason string, logs func(context.Context) string) bool {
	w := s.workloads
	w.release(runID)
	if !validID(runID) {
		return true
	}
	run, err := s.store.Run(ctx, runID, false)
	if errs.Is(err, errs.NotFound) {
		return true
	}
	if err != nil {
		s.log.Warn("workload manager: read the run of an ended Job", "run", runID, "err", err)
		return false
	}
	if !slices.Contains(inProgress, run.Body.Status) {
		return true // the runner ended the run itself
	}
	what := "Job"
	if w.local != nil {
		what = "process"
	}
	msg := "the runner " + what + " ended without ending the run"
	if failed {
		msg = "the runner " + what + " failed before the run ended: " + reason
	}
	st := client.StatusFailed
	if run.Body.Status == client.StatusStopping {
		// Asked to stop, gracefully: however the runner ended, the run stops.
		st, msg = client.StatusStopped, "the runner "+what+" ended while the run was stopping"
	}
	w.runLogger(runID, msg)
	if logs != nil {
		// What the runner said before it died, if it started.
		if out := logs(ctx); out != "" {
			w.runLogger(runID, "what the runner wrote:\n"+out)
		}
	}
	if _, err := s.store.UpdateRun(ctx, "", runID, client.RunUpdate{Status: &st}); err != nil {
		s.log.Warn("workload manager: mark the run of a failed Job", "run", runID, "err", err)
		return false
	}
	s.log.Info("workload manager: "+msg, "run", runID)
	return true
}

func (w *workloads) release(runID string) {
	w.mu.Lock()
	delete(w.inFlight, runID)
	w.mu.Unlock()
}

func (w *workloads) inFlightRuns() map[string]time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.inFlight)
}

func (w *workloads) isHandled(uid string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.handled[uid]
}

func (w *workloads) markHandled(uid string) {
	w.mu.Lock()
	w.handled[uid] = true
	w.mu.Unlock()
}

// forgetHandledExcept drops the Jobs no longer listed, so the set stays as
// small as the list.
func (w *workloads) forgetHandledExcept(uids map[string]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for uid := range w.handled {
		if !uids[uid] {
			delete(w.handled, uid)
		}
	}
}
