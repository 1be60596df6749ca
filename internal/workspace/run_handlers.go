package workspace

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// ---- runs

func checkStatus(field string, v string, allowed []string) error {
	if !slices.Contains(allowed, v) {
		return errs.E(errs.Invalid, "%s %q is not one of %v", field, v, allowed)
	}
	return nil
}

func validateRunRequest(req *client.RunRequest) error {
	var snapErr error
	if !validID(req.Snapshot) {
		snapErr = errs.E(errs.Invalid, "snapshot must be the id of a snapshot, not %q", req.Snapshot)
	}
	var timeErr error
	if req.StartTime != nil && req.EndTime != nil && req.EndTime.Before(req.StartTime.Time) {
		timeErr = errs.E(errs.Invalid, "end_time is before start_time")
	}
	return firstErr(checkName("name", req.Name), snapErr,
		checkStatus("status", req.Status, []string{client.StatusInitializing, client.StatusRunning}),
		checkOptText("orchestrator_run_id", req.OrchestratorRunID, 255), timeErr, checkTags("tags", req.Tags))
}

func validateRunUpdate(u *client.RunUpdate) error {
	var stErr error
	if u.Status != nil {
		stErr = checkStatus("status", *u.Status, client.Statuses)
	}
	return firstErr(stErr, checkOptText("orchestrator_run_id", u.OrchestratorRunID, 255),
		checkTags("add_tags", u.AddTags), checkTags("remove_tags", u.RemoveTags))
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, runSpec, rtRun, true)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListRuns(r.Context(), lq))
}

// createRun is POST /runs, which the original answers as get-or-create:
// [run, created]. A run whose name is taken is the same run when it names
// the same snapshot and orchestrator run id (the SDK's steps may each try
// to create the run of the pipeline run they belong to); otherwise 409.
func (s *Server) createRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.RunRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validateRunRequest(&req); err != nil {
		return err
	}
	project, err := s.projectFor(r.Context(), p, req.Project, rtRun)
	if err != nil {
		return err
	}
	run, created, err := s.store.GetOrCreateRun(r.Context(), p.UserID, project, req)
	if err != nil {
		return err
	}
	if !created {
		if err := s.authorize(r.Context(), p, rbac.Read, rtRun, run.Body.ProjectID, run.ID, run.Body.UserID); err != nil {
			return err
		}
	}
	writeAppended(w, func(b []byte) []byte {
		b = appendRun(append(b, '['), &run)
		return append(strconv.AppendBool(append(b, ','), created), ']')
	})
	return nil
}

// run reads the {id} run and checks that p may do action on it.
func (s *Server) run(r *http.Request, p *principal, action rbac.Action, hydrate bool) (client.Run, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return client.Run{}, err
	}
	run, err := s.store.Run(r.Context(), id, hydrate)
	if err != nil {
		return client.Run{}, err
	}
	return run, s.authorize(r.Context(), p, action, rtRun, run.Body.ProjectID, id, run.Body.UserID)
}

// getRun answers from the store's cache of run documents when it can (see
// run_docs.go); the caller is authorized all the same.
func (s *Server) getRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	h, err := hydrate(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	doc, err := s.store.cachedRun(r.Context(), id, h)
	if err != nil {
		return err
	}
	if err := s.authorize(r.Context(), p, rbac.Read, rtRun, doc.projectID, id, doc.userID); err != nil {
		return err
	}
	httpapi.WriteJSONBytes(w, http.StatusOK, doc.json)
	return nil
}

func (s *Server) updateRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	var u client.RunUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := validateRunUpdate(&u); err != nil {
		return err
	}
	run, err := s.run(r, p, rbac.Update, false)
	if err != nil {
		return err
	}
	return respond(w)(s.store.UpdateRun(r.Context(), p.UserID, run.ID, u))
}

func (s *Server) deleteRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := noQuery(r); err != nil {
		return err
	}
	run, err := s.run(r, p, rbac.Delete, false)
	if err != nil {
		return err
	}
	if err := s.store.DeleteRun(r.Context(), run.ID); err != nil {
		return err
	}
	s.logs.remove(run.ID)
	s.forget(r.Context(), rtRun, run.Body.ProjectID, run.ID)
	return ok(w, nil)
}

// stopRun is POST /runs/{id}/stop: the caller must be allowed to read and
// to update the run, and the run must be in progress. With graceful=true the
// run becomes stopping: its runner starts no further step and ends it as
// stopped. Otherwise it is stopped at once, with its steps in progress, and
// its runner Job (if the workload manager started one) is deleted, which
// frees its slot; the runner's token stops working with the run. The run
// is marked before the Job goes, so that the Job's end is not taken for a
// failure.
func (s *Server) stopRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	if err := httpapi.QueryOnly(q, "graceful"); err != nil {
		return err
	}
	graceful, err := httpapi.Bool(q, "graceful", false)
	if err != nil {
		return err
	}
	run, err := s.run(r, p, rbac.Read, false)
	if err != nil {
		return err
	}
	if err := s.authorize(r.Context(), p, rbac.Update, rtRun, run.Body.ProjectID, run.ID, run.Body.UserID); err != nil {
		return err
	}
	if !slices.Contains(inProgress, run.Body.Status) {
		return errs.E(errs.Forbidden, "run %s has already ended (%s): there is nothing to stop", run.ID, run.Body.Status)
	}
	if graceful {
		if run.Body.Status == client.StatusStopping {
			return ok(w, nil)
		}
		stopping := client.StatusStopping
		if _, err := s.store.UpdateRun(r.Context(), p.UserID, run.ID, client.RunUpdate{Status: &stopping}); err != nil {
			return err
		}
		return ok(w, nil)
	}
	stopped, err := s.store.StopRun(r.Context(), run.ID)
	if err != nil {
		return err
	}
	if !stopped {
		return errs.E(errs.Forbidden, "run %s ended while it was being stopped: there is nothing to stop", run.ID)
	}
	if wl := s.workloads; wl != nil && wl.local != nil {
		if err := wl.local.kill(run.ID); err != nil {
			return errs.Wrap(errs.Other, err, "run %s is stopped, but its runner process could not be ended", run.ID)
		}
	} else if wl != nil {
		if err := wl.m.DeleteWorkload(r.Context(), run.ID); err != nil {
			return errs.Wrap(errs.Unavailable, err, "run %s is stopped, but its runner Job could not be deleted", run.ID)
		}
		wl.release(run.ID) // its slot is free once the Job is going
	}
	return ok(w, nil)
}

// refreshRun is POST /runs/{id}/refresh: with the workload manager, the
// runner Jobs are looked at now rather than at the next poll, so that a
// Job that died shows in its run's status. A run without a Job is only
// what its runner reports: there is nothing else to ask.
func (s *Server) refreshRun(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := httpapi.QueryOnly(r.URL.Query(), "include_steps"); err != nil {
		return err
	}
	if _, err := s.run(r, p, rbac.Read, false); err != nil {
		return err
	}
	if s.workloads != nil {
		s.checkWorkloads(r.Context())
	}
	return ok(w, nil)
}

// listRunSteps lists the steps of one run: GET /runs/{id}/steps.
func (s *Server) listRunSteps(w http.ResponseWriter, r *http.Request, p *principal) error {
	run, err := s.run(r, p, rbac.Read, false)
	if err != nil {
		return err
	}
	lq, err := parseList(r.URL.Query(), stepSpec)
	if err != nil {
		return err
	}
	lq.addScope("pipeline_run_id = ?", run.ID)
	return respond(w)(s.store.ListSteps(r.Context(), lq))
}

// ---- steps: authorized through their run

func validateStepRequest(req *client.StepRequest) error {
	var idErr error
	if !validID(req.PipelineRunID) {
		idErr = errs.E(errs.Invalid, "pipeline_run_id must be a run id, not %q", req.PipelineRunID)
	}
	for _, id := range req.ParentStepIDs {
		if !validID(id) {
			idErr = errs.E(errs.Invalid, "parent_step_ids: %q is not an id", id)
		}
	}
	var logsErr error
	if req.Logs != nil {
		logsErr = checkText("logs.uri", req.Logs.URI, 4096)
	}
	return firstErr(checkName("name", req.Name), idErr, checkStatus("status", req.Status, client.Statuses),
		checkText("cache_key", req.CacheKey, 255), checkText("code_hash", req.CodeHash, 255),
		objectField("config", req.Config), objectField("spec", req.Spec),
		checkLinks("inputs", req.Inputs), checkLinks("outputs", req.Outputs), logsErr)
}

// checkLinks checks a map of artifact names to artifact version ids.
func checkLinks(field string, m map[string][]string) error {
	if len(m) > 1000 {
		return errs.E(errs.Invalid, "%s: at most 1000 names", field)
	}
	for name, ids := range m {
		if err := checkName(field+" name", name); err != nil {
			return err
		}
		if len(ids) == 0 || len(ids) > 1000 {
			return errs.E(errs.Invalid, "%s.%s: give 1 to 1000 artifact version ids", field, name)
		}
		for _, id := range ids {
			if !validID(id) {
				return errs.E(errs.Invalid, "%s.%s: %q is not an id", field, name, id)
			}
		}
	}
	return nil
}

func (s *Server) listSteps(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, stepSpec, "", false)
	if err != nil {
		return err
	}
	// Steps are visible with their run: narrow to the runs p may read.
	full, ids, err := s.authz.allowedIDs(r.Context(), p, rbac.Read, rbac.Resource{Type: rtRun})
	if err != nil {
		return err
	}
	if !full {
		cond := "pipeline_run_id IN (SELECT id FROM pipeline_runs WHERE user_id = ?)"
		args := []any{p.UserID}
		if len(ids) > 0 {
			cond += " OR pipeline_run_id IN (" + idMarks(ids) + ")"
			args = append(args, idArgs(ids)...)
		}
		lq.addScope(cond, args...)
	}
	return respond(w)(s.store.ListSteps(r.Context(), lq))
}

func (s *Server) createStep(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.StepRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validateStepRequest(&req); err != nil {
		return err
	}
	runID, projectID, owner, err := s.store.runOwner(r.Context(), req.PipelineRunID)
	if err != nil {
		return err
	}
	if err := s.authorize(r.Context(), p, rbac.Update, rtRun, projectID, runID, owner); err != nil {
		return err
	}
	req.PipelineRunID = runID
	return respond(w)(s.store.CreateStep(r.Context(), p.UserID, projectID, req))
}

// step reads the {id} step and checks that p may do action on its run.
func (s *Server) step(r *http.Request, p *principal, action rbac.Action) (runID string, err error) {
	id, err := pathID(r, "id")
	if err != nil {
		return "", err
	}
	runID, projectID, owner, err := s.store.stepRun(r.Context(), id)
	if err != nil {
		return "", err
	}
	if owner != p.UserID {
		run, err := s.store.Run(r.Context(), runID, false)
		if err != nil {
			return "", err
		}
		owner = run.Body.UserID
	}
	return runID, s.authorize(r.Context(), p, action, rtRun, projectID, runID, owner)
}

func (s *Server) getStep(w http.ResponseWriter, r *http.Request, p *principal) error {
	h, err := hydrate(r)
	if err != nil {
		return err
	}
	if _, err := s.step(r, p, rbac.Read); err != nil {
		return err
	}
	return respond(w)(s.store.Step(r.Context(), r.PathValue("id"), h))
}

func (s *Server) updateStep(w http.ResponseWriter, r *http.Request, p *principal) error {
	var u client.StepUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	var stErr error
	if u.Status != nil {
		stErr = checkStatus("status", *u.Status, client.Statuses)
	}
	if err := firstErr(stErr, checkLinks("outputs", u.Outputs)); err != nil {
		return err
	}
	if _, err := s.step(r, p, rbac.Update); err != nil {
		return err
	}
	return respond(w)(s.store.UpdateStep(r.Context(), r.PathValue("id"), u))
}

// ---- logs

func (s *Server) getRunLogs(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := noQuery(r); err != nil {
		return err
	}
	run, err := s.run(r, p, rbac.Read, false)
	if err != nil {
		return err
	}
	return respond(w)(s.logs.read(run.ID, ""))
}

func (s *Server) appendRunLogs(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in client.LogAppend
	if err := decode(r, &in); err != nil {
		return err
	}
	run, err := s.run(r, p, rbac.Update, false)
	if err != nil {
		return err
	}
	if err := s.logs.append(run.ID, "", in.Content); err != nil {
		return err
	}
	return ok(w, nil)
}

func (s *Server) getStepLogs(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := noQuery(r); err != nil {
		return err
	}
	runID, err := s.step(r, p, rbac.Read)
	if err != nil {
		return err
	}
	return respond(w)(s.logs.read(runID, r.PathValue("id")))
}

func (s *Server) appendStepLogs(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in client.LogAppend
	if err := decode(r, &in); err != nil {
		return err
	}
	runID, err := s.step(r, p, rbac.Update)
	if err != nil {
		return err
	}
	if err := s.logs.append(runID, r.PathValue("id"), in.Content); err != nil {
		return err
	}
	return ok(w, nil)
}
