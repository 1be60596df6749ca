package workspace

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// tokenLife reads how long a token was signed for, from its claims.
func tokenLife(t *testing.T, tok string) int64 {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Iat, Exp int64 }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Exp - c.Iat
}

// wantClientError fails unless err is a 4xx answer of the given status
// whose message contains want.
func wantClientError(t *testing.T, err error, status int, want string) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != status || !strings.Contains(e.Msg, want) {
		t.Fatalf("want %d with %q, got %v", status, want, err)
	}
}

func TestAPIToken(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, sqldbtest.URL(t, "sqlite"))
	cfg.GenericTokenMaxLifetime = 600
	cfg.GenericTokenLifetime = 300
	_, hs, admin := testServer(t, cfg)
	as := func(tok string) *client.Workspace {
		c := client.NewWorkspace(hs.URL, "", hs.Client())
		c.SetToken(tok)
		return c
	}

	// Generic tokens: the caller's rights, for the default or the asked
	// lifetime, never past the maximum.
	tok := must[string](t)(admin.APIToken(ctx, client.TokenGeneric, 0, ""))
	if got := tokenLife(t, tok); got != 300 {
		t.Fatalf("default generic token lasts %d s, want 300", got)
	}
	if u := must[client.User](t)(as(tok).CurrentUser(ctx)); u.Name != testAdmin {
		t.Fatalf("generic token acts for %q", u.Name)
	}
	if got := tokenLife(t, must[string](t)(admin.APIToken(ctx, "", 120, ""))); got != 120 {
		t.Fatalf("asked for 120 s, got %d", got)
	}
	_, err := admin.APIToken(ctx, client.TokenGeneric, 601, "")
	wantClientError(t, err, http.StatusUnprocessableEntity, "600 seconds")

	f := newFixture(t, admin, "tokens")
	run := must[client.Run](t)(admin.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "tokens", Status: "running"}))
	other := must[client.Run](t)(admin.CreateRun(ctx, client.RunRequest{Name: "o", Snapshot: f.snapshot.ID, Project: "tokens", Status: "running"}))

	for _, bad := range []struct{ query, want string }{
		{"token_type=generic&pipeline_run_id=" + run.ID, "cannot be scoped"},
		{"token_type=generic&expires_in=-5", "whole number"},
		{"token_type=generic&expires_in=soon", "whole number"},
		{"token_type=forever", "token_type must be"},
		{"token_type=workload", "give pipeline_run_id"},
		{"token_type=workload&pipeline_run_id=not-an-id", "must be a run id"},
		{"token_type=workload&pipeline_run_id=" + newID(), "does not exist"},
		{"token_type=workload&schedule_id=" + newID(), "no schedules"},
		{"token_type=workload&run=" + run.ID, "unknown query parameter"},
	} {
		code, body := raw(t, hs, admin.Token(), "GET", "/api/v1/api_token?"+bad.query, "", "")
		if code != http.StatusBadRequest && code != http.StatusUnprocessableEntity || !strings.Contains(body, bad.want) || !strings.Contains(body, "detail") {
			t.Errorf("%s: %d %s, want a 400 or 422 saying %q", bad.query, code, body, bad.want)
		}
	}

	// A workload token: the run's, readable, refused everything but its
	// own run's writes and other tokens than its own run's.
	wtok := must[string](t)(admin.APIToken(ctx, client.TokenWorkload, 0, run.ID))
	w := as(wtok)
	must[client.Run](t)(w.GetRun(ctx, other.ID, false))
	_, err = w.CreateStep(ctx, client.StepRequest{Name: "s", PipelineRunID: other.ID, Status: "running"})
	wantClientError(t, err, http.StatusForbidden, "scoped to run")
	must[client.Step](t)(w.CreateStep(ctx, client.StepRequest{Name: "s", PipelineRunID: run.ID, Status: "running"}))
	_, err = w.APIToken(ctx, client.TokenGeneric, 0, "")
	wantClientError(t, err, http.StatusForbidden, "only get workload tokens")
	_, err = w.APIToken(ctx, client.TokenWorkload, 0, other.ID)
	wantClientError(t, err, http.StatusForbidden, "cannot get tokens for run")
	again := must[string](t)(w.APIToken(ctx, client.TokenWorkload, 0, ""))
	must[client.Run](t)(as(again).GetRun(ctx, run.ID, false))

	// The run ends: its tokens stop working, and no new ones are made.
	completed := client.StatusCompleted
	must[client.Run](t)(admin.UpdateRun(ctx, run.ID, client.RunUpdate{Status: &completed}))
	for _, tk := range []string{wtok, again} {
		_, err = as(tk).GetRun(ctx, run.ID, false)
		wantStatus(t, err, http.StatusUnauthorized)
	}
	_, err = admin.APIToken(ctx, client.TokenWorkload, 0, run.ID)
	wantClientError(t, err, http.StatusUnprocessableEntity, "has ended")
}

// TestRunTokenGrace: a run ends as soon as its last step is reported, and
// its runner still reports its own end: the run's token works on for
// RunTokenGrace after the run's end, and not past it.
func TestRunTokenGrace(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, sqldbtest.URL(t, "sqlite"))
	cfg.RunTokenGrace = time.Hour
	_, hs, admin := testServer(t, cfg)
	runner := client.NewWorkspace(hs.URL, "", hs.Client())
	f := newFixture(t, admin, "grace")
	run := must[client.Run](t)(admin.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "grace", Status: "running"}))
	runner.SetToken(must[string](t)(admin.APIToken(ctx, client.TokenWorkload, 0, run.ID)))

	// Its two planned steps reported: the run has ended, and its runner
	// reports the end all the same.
	for _, name := range []string{"load", "train"} {
		must[client.Step](t)(runner.CreateStep(ctx, client.StepRequest{Name: name, PipelineRunID: run.ID, Status: client.StatusCompleted}))
	}
	if got := must[client.Run](t)(admin.GetRun(ctx, run.ID, false)); got.Body.Status != client.StatusCompleted {
		t.Fatalf("run %s after its steps", got.Body.Status)
	}
	completed := client.StatusCompleted
	must[client.Run](t)(runner.UpdateRun(ctx, run.ID, client.RunUpdate{Status: &completed}))

	// Ended longer ago than the grace: refused.
	long := client.Time{Time: time.Now().Add(-2 * time.Hour)}
	must[client.Run](t)(admin.UpdateRun(ctx, run.ID, client.RunUpdate{EndTime: &long}))
	_, err := runner.GetRun(ctx, run.ID, false)
	wantClientError(t, err, http.StatusUnauthorized, "has ended")
}

// A lifetime longer than the maximum is a configuration error.
func TestAPITokenLifetimesChecked(t *testing.T) {
	cfg := testConfig(t, "sqlite:///x.db")
	cfg.GenericTokenLifetime = 7200
	cfg.GenericTokenMaxLifetime = 3600
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "must not exceed") {
		t.Fatalf("Validate: %v", err)
	}
	cfg.GenericTokenMaxLifetime = 0 // the default, seven days
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
