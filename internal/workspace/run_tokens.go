package workspace

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// Run-scoped tokens are what a runner started by the workload manager holds:
// it acts for the user who started the snapshot run, but may write only
// that run — its status, its steps, their logs and the artifact versions
// they produce — and read what that user may read. The token stops working
// RunTokenGrace (2 min by default) after the run ended, whatever its expiry
// says, so a leaked Secret is worth nothing once the run is over. The grace
// is there because a run ends as soon as its last step is reported (see
// run_status.go), and its runner still reports its own end and log.

// runTokenKind is the Kind claim of a run-scoped token; its Scope is the run id.
const runTokenKind = "run"

// runTokenTTL only bounds a token whose run never ends (a Job that is
// stuck and never noticed): the end of the run is what normally ends it.
const runTokenTTL = 30 * 24 * time.Hour

// mintRunToken signs a token for userID scoped to runID.
func (s *Server) mintRunToken(userID, runID string) (string, error) {
	now := time.Now()
	return s.signer.Sign(auth.Claims{Issuer: s.serverID, Audience: []string{s.serverID}, Subject: userID,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(runTokenTTL).Unix(), ID: auth.NewID(), Kind: runTokenKind, Scope: runID})
}

// apiToken is GET /api/v1/api_token: a token for the caller, answered as a
// JSON string. token_type=generic (the default) gives the caller's own
// rights for expires_in seconds (the server's default lifetime when not
// given, and never past its maximum). token_type=workload gives a runner's
// token for pipeline_run_id, which must be a run the caller may read, in a
// project where it may create runs, and not ended; the token stops working
// when the run ends. A run-scoped caller may only get another token for its
// own run: a generic token would be worth more than the one it holds.
// Schedules do not exist on this server, so neither do their tokens.
func (s *Server) apiToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	if err := httpapi.QueryOnly(q, "token_type", "expires_in", "pipeline_run_id", "schedule_id"); err != nil {
		return err
	}
	if q.Get("schedule_id") != "" {
		return errs.E(errs.Invalid, "this server has no schedules: API tokens cannot be scoped to one")
	}
	runID := strings.ToLower(q.Get("pipeline_run_id"))
	var tok string
	var err error
	switch q.Get("token_type") {
	case "", client.TokenGeneric:
		tok, err = s.genericToken(p, runID, q.Get("expires_in"))
	case client.TokenWorkload:
		tok, err = s.workloadToken(r.Context(), p, runID)
	default:
		return errs.E(errs.Invalid, "token_type must be %s or %s, not %q", client.TokenGeneric, client.TokenWorkload, q.Get("token_type"))
	}
	if err != nil {
		return err
	}
	return ok(w, tok)
}

func (s *Server) genericToken(p *principal, runID, expiresIn string) (string, error) {
	if runID != "" {
		return "", errs.E(errs.Invalid, "generic API tokens cannot be scoped to a pipeline run: ask for token_type=workload")
	}
	if p.RunScope != "" {
		return "", errs.E(errs.Forbidden, "this token is scoped to run %s: it can only get workload tokens for that run", p.RunScope)
	}
	life, max := s.cfg.genericTokenLifetimes()
	if expiresIn != "" {
		n, err := strconv.Atoi(expiresIn)
		if err != nil || n < 0 {
			return "", errs.E(errs.Invalid, "expires_in must be a whole number of seconds, not %q", expiresIn)
		}
		if n > max {
			return "", errs.E(errs.Invalid, "the maximum expiration time for generic API tokens allowed by this server is %d seconds", max)
		}
		if n > 0 {
			life = n
		}
	}
	return s.sessionToken(p.UserID, p.ServiceAccount, time.Duration(life)*time.Second)
}

func (s *Server) workloadToken(ctx context.Context, p *principal, runID string) (string, error) {
	if runID == "" {
		runID = p.RunScope
	}
	if runID == "" {
		return "", errs.E(errs.Invalid, "workload API tokens must be scoped to a pipeline run: give pipeline_run_id")
	}
	if p.RunScope != "" && runID != p.RunScope {
		return "", errs.E(errs.Forbidden, "this token is scoped to run %s: it cannot get tokens for run %s", p.RunScope, runID)
	}
	if !validID(runID) {
		return "", errs.E(errs.Invalid, "pipeline_run_id must be a run id, not %q", runID)
	}
	run, err := s.store.Run(ctx, runID, false)
	if errs.Is(err, errs.NotFound) {
		return "", errs.E(errs.Invalid, "pipeline run %s does not exist: API tokens are not made for runs that do not exist", runID)
	}
	if err != nil {
		return "", err
	}
	if err := s.authorize(ctx, p, rbac.Read, rtRun, run.Body.ProjectID, run.ID, run.Body.UserID); err != nil {
		return "", err
	}
	if slices.Contains(finished, run.Body.Status) {
		return "", errs.E(errs.Invalid, "pipeline run %s has ended (%s): API tokens are no longer made for it", run.ID, run.Body.Status)
	}
	if err := s.authorize(ctx, p, rbac.Create, rtRun, run.Body.ProjectID, "", ""); err != nil {
		return "", err
	}
	return s.mintRunToken(p.UserID, run.ID)
}

// runTokenWrites are the routes a run-scoped token may write through, each
// with the check that the write belongs to the token's run. Every other
// write is refused.
var runTokenWrites = map[string]func(s *Server, r *http.Request, runID string) (bool, error){
	"PUT /api/v1/runs/{id}":        sameRunInPath,
	"POST /api/v1/runs/{id}/logs":  sameRunInPath,
	"POST /api/v1/steps":           stepRequestForRun,
	"PUT /api/v1/steps/{id}":       stepOfRun,
	"POST /api/v1/steps/{id}/logs": stepOfRun,
	// An artifact version is created before the step that produced it names
	// it as an output; it cannot be tied to the run any earlier.
	"POST /api/v1/artifacts":         anyRun,
	"POST /api/v1/artifact_versions": anyRun,
}

func sameRunInPath(_ *Server, r *http.Request, runID string) (bool, error) {
	return strings.EqualFold(r.PathValue("id"), runID), nil
}

func anyRun(*Server, *http.Request, string) (bool, error) { return true, nil }

func stepOfRun(s *Server, r *http.Request, runID string) (bool, error) {
	id := r.PathValue("id")
	if !validID(id) {
		return false, errs.E(errs.Invalid, "%q is not an id", id)
	}
	stepRun, _, _, err := s.store.stepRun(r.Context(), strings.ToLower(id))
	if err != nil {
		return false, err
	}
	return strings.EqualFold(stepRun, runID), nil
}

// stepRequestForRun reads the run a new step is for from the body, and puts
// the body back for the handler, which decodes it strictly.
func stepRequestForRun(_ *Server, r *http.Request, runID string) (bool, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return false, errs.Wrap(errs.Invalid, err, "cannot read the request body")
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	var req struct {
		PipelineRunID string `json:"pipeline_run_id"`
	}
	if json.Unmarshal(b, &req) != nil {
		return false, nil
	}
	return strings.EqualFold(req.PipelineRunID, runID), nil
}

// checkRunToken lets a request with a token scoped to runID through, or
// says why not. authenticate calls it for every token of kind "run".
func (s *Server) checkRunToken(r *http.Request, runID string) error {
	if !validID(runID) {
		return errs.E(errs.Unauthenticated, "the token is not valid for this server")
	}
	run, err := s.store.Run(r.Context(), strings.ToLower(runID), false)
	if errs.Is(err, errs.NotFound) {
		return errs.E(errs.Unauthenticated, "the run this token was made for is gone")
	}
	if err != nil {
		return err
	}
	if slices.Contains(finished, run.Body.Status) {
		ended := run.Body.Updated
		if run.Body.EndTime != nil {
			ended = *run.Body.EndTime
		}
		if time.Since(ended.Time) > s.cfg.RunTokenGrace {
			return errs.E(errs.Unauthenticated, "the run this token was made for has ended (%s): the token is no longer valid", run.Body.Status)
		}
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if check := runTokenWrites[r.Pattern]; check != nil {
		ok, err := check(s, r, run.ID)
		if err != nil || ok {
			return err
		}
	}
	return errs.E(errs.Forbidden, "this token is scoped to run %s: it may read, and write only that run, its steps, their logs and artifacts", run.ID)
}
