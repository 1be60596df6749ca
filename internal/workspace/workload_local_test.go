package workspace

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// With the source "local", a snapshot run's runner is a process of the
// server's machine, given the run's token and no more of the server's
// environment than a command needs. A runner that dies before it ends its
// run fails the run, with its exit and what it wrote in the run's log, and
// frees its slot; stopping a run at once ends its runner and what the
// runner started. The runner here is a script that stands in for `enclave
// pipeline run-snapshot` (the real one runs in the tests of `enclave up`).
func TestLocalRunners(t *testing.T) {
	t.Setenv("ZENML_SERVER_JWT_SECRET_KEY", "not-for-runners")
	dir := t.TempDir()
	script := filepath.Join(dir, "runner")
	os.WriteFile(script, []byte(`#!/bin/sh
env > "`+dir+`/env-$ENCLAVE_RUN_ID"
echo $$ > "`+dir+`/pid-$ENCLAVE_RUN_ID"
if [ -e "`+dir+`/hold" ]; then sleep 60 & wait; fi
echo "boom: nothing to run" >&2
exit 3
`), 0o755)
	cfg := testConfig(t, sqldbtest.URL(t, "sqlite"))
	cfg.Workload = &WorkloadConfig{Source: workloadSourceLocal, LocalRunner: script, MaxConcurrent: 1,
		ServerURL: "http://127.0.0.1:9", ArtifactStore: filepath.Join(dir, "artifacts")}
	_, _, c := testServer(t, cfg)
	ctx := context.Background()
	f := newFixture(t, c, "local")
	sn := must[client.Snapshot](t)(c.CreateSnapshot(ctx, client.SnapshotRequest{
		Project: "local", Pipeline: f.pipeline.ID, Stack: f.stack.ID, RunNameTemplate: "again-{time}",
		PipelineConfiguration: json.RawMessage(`{"name":"training"}`),
		StepConfigurations:    map[string]json.RawMessage{"a": json.RawMessage(`{"command":"echo a"}`)},
	}))
	waitRun := func(id, status string) client.Run {
		t.Helper()
		for range 500 {
			r := must[client.Run](t)(c.GetRun(ctx, id, false))
			if r.Body.Status == status {
				return r
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("run %s never became %s", id, status)
		return client.Run{}
	}

	// A runner that exits without ending its run.
	run := must[client.Run](t)(c.RunSnapshot(ctx, sn.ID, client.SnapshotRunRequest{}))
	waitRun(run.ID, client.StatusFailed)
	logs := must[string](t)(c.RunLogs(ctx, run.ID))
	for _, want := range []string{"workload manager: starting the runner process",
		"workload manager: the runner process failed before the run ended: exit status 3",
		"boom: nothing to run"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("run log without %q:\n%s", want, logs)
		}
	}
	env, err := os.ReadFile(filepath.Join(dir, "env-"+run.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ZENML_STORE_URL=http://127.0.0.1:9\n", "ZENML_STORE_TYPE=rest\n", "ZENML_STORE_API_TOKEN=ey",
		"ENCLAVE_RUN_ID=" + run.ID + "\n", "ENCLAVE_SNAPSHOT_ID=" + sn.ID + "\n", "ENCLAVE_ARTIFACT_STORE=" + dir + "/artifacts\n", "PATH="} {
		if !strings.Contains(string(env), want) {
			t.Errorf("the runner's environment has no %q:\n%s", want, env)
		}
	}
	if strings.Contains(string(env), "not-for-runners") {
		t.Errorf("the runner got the server's secret:\n%s", env)
	}
	if home := os.Getenv("HOME"); home != "" && !strings.Contains(string(env), "HOME="+home+"\n") {
		t.Errorf("the runner's HOME is not the server's %s:\n%s", home, env)
	}

	// Its slot is free again (one at most): a runner that holds on, and
	// while it does, no other may start.
	os.WriteFile(filepath.Join(dir, "hold"), nil, 0o600)
	held := must[client.Run](t)(c.RunSnapshot(ctx, sn.ID, client.SnapshotRunRequest{}))
	_, err = c.RunSnapshot(ctx, sn.ID, client.SnapshotRunRequest{})
	wantStatus(t, err, 429)
	var pid int
	for range 500 {
		if b, err := os.ReadFile(filepath.Join(dir, "pid-"+held.ID)); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("the held runner never started")
	}

	// Stopped at once: the runner and its sleep end, the slot frees.
	if err := c.StopRun(ctx, held.ID, false); err != nil {
		t.Fatal(err)
	}
	waitRun(held.ID, client.StatusStopped)
	for i := 0; ; i++ {
		// The group the runner led is gone: the runner and its sleep.
		if err := syscall.Kill(-pid, 0); errors.Is(err, syscall.ESRCH) {
			break
		}
		if i == 500 {
			t.Fatal("the stopped run's runner or its commands still run")
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.Remove(filepath.Join(dir, "hold"))
	for i := 0; ; i++ {
		last, err := c.RunSnapshot(ctx, sn.ID, client.SnapshotRunRequest{})
		if err == nil {
			// Its runner ends before the test, and the server with it.
			waitRun(last.ID, client.StatusFailed)
			break
		}
		if i == 500 {
			t.Fatalf("the slot of the stopped run is not free: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLocalRunnerMustBeAnExecutable(t *testing.T) {
	cfg := testConfig(t, sqldbtest.URL(t, "sqlite"))
	cfg.Workload = &WorkloadConfig{Source: workloadSourceLocal, LocalRunner: filepath.Join(t.TempDir(), "missing"), MaxConcurrent: 1, ServerURL: "http://127.0.0.1:9"}
	_, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "is not an executable enclave binary") {
		t.Fatalf("New with a missing runner: %v", err)
	}
}
