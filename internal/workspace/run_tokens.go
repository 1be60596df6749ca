package workspace

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/errs"
)

// Run-scoped tokens are what a runner started by the workload manager holds:
// it acts for the user who started the snapshot run, but may write only
// that run — its status, its steps, their logs and the artifact versions
// they produce — and read what that user may read. The token stops working
// the moment the run ends, whatever its expiry says, so a leaked Secret is
// worth nothing once the run is over.

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
		return errs.E(errs.Unauthenticated, "the run this token was made for has ended (%s): the token is no longer valid", run.Body.Status)
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
