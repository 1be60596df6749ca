package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
	"github.com/enclave-mlops/enclave/internal/workspace"
)

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"":          "name",
		"name: x\n": "no steps",
		"name: 1x\nsteps: [{name: a, command: x}]":                                                       "must start with a letter",
		"name: x\nsteps: [{name: a}]":                                                                    "no command",
		"name: x\nsteps: [{name: a, command: x}, {name: a, command: z}]":                                 "two steps",
		"name: x\nsteps: [{name: a, command: x, after: [b]}]":                                            "unknown step",
		"name: x\nsteps: [{name: a, command: x, inputs: {d: b.o}}]":                                      `names unknown step "b"`,
		"name: x\nsteps: [{name: a, command: x, inputs: {d: b}}]":                                        "another step's output as step.output",
		"name: x\nsteps: [{name: a, command: x, outputs: [o]}, {name: b, command: z, inputs: {d: a.p}}]": "no output",
		"name: x\nsteps: [{name: a, command: x, after: [b]}, {name: b, command: z, after: [a]}]":         "cycle",
		"name: x\nsteps: [{name: a, command: 5}]":                                                        "command",
		"name: x\nsteps: [{name: a, command: x, colour: red}]":                                           "unknown field",
		"name: x\nsteps: [{name: a, command: x, outputs: [o, O]}]":                                       "unique",
	}
	for in, want := range cases {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error about %q", in, err, want)
		}
	}
}

func TestOrder(t *testing.T) {
	s, err := Parse([]byte(`name: p
steps:
  - {name: c, command: x, inputs: {i: b.o}}
  - {name: a, command: x, outputs: [o]}
  - {name: b, command: x, inputs: {i: a.o}, outputs: [o]}
  - {name: d, command: x, after: [a]}
`))
	if err != nil {
		t.Fatal(err)
	}
	order, _ := s.Order()
	var names []string
	for _, st := range order {
		names = append(names, st.Name)
	}
	if got := strings.Join(names, ","); got != "a,b,c,d" {
		t.Fatalf("order %s", got)
	}
}

const threeSteps = `name: demo
steps:
  - name: load
    command: 'echo loading; printf "1,2\n3,4\n" > "$ENCLAVE_OUTPUT_DATA"'
    outputs: [data]
  - name: train
    inputs: {data: load.data}
    command: 'echo "rows $(wc -l < "$ENCLAVE_INPUT_DATA")"; echo weights > "$ENCLAVE_OUTPUT_MODEL"'
    outputs: [model]
  - name: evaluate
    inputs: {model: train.model, data: load.data}
    command: ["/bin/sh", "-c", "cat \"$ENCLAVE_INPUT_MODEL\"; echo accuracy 0.9"]
`

func startWorkspace(t *testing.T) *client.Workspace {
	t.Helper()
	cfg := workspace.Config{
		StoreURL: sqldbtest.URL(t, "sqlite"), DataDir: t.TempDir(), BackupStrategy: workspace.BackupDisabled, Listen: ":0",
		SecretsStoreType: "none", DefaultUserName: "admin", DefaultUserPassword: "admin-password",
		RBACCacheTTL: workspace.DefaultRBACCacheTTL,
	}
	srv, err := workspace.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	ws := client.NewWorkspace(hs.URL, "", hs.Client())
	if _, err := ws.LoginPassword(context.Background(), "admin", "admin-password"); err != nil {
		t.Fatal(err)
	}
	return ws
}

func TestRunRecordsStepsLogsAndLineage(t *testing.T) {
	ws := startWorkspace(t)
	ctx := context.Background()
	spec, err := Parse([]byte(threeSteps))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &Runner{WS: ws, ArtifactDir: t.TempDir(), Out: &out}
	res, err := r.Run(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != client.StatusCompleted {
		t.Fatalf("run %s:\n%s", res.Status, out.String())
	}
	run, err := ws.GetRun(ctx, res.RunID, true)
	if err != nil || run.Body.Status != client.StatusCompleted || run.Body.EndTime == nil {
		t.Fatalf("run = %+v, %v", run.Body, err)
	}
	steps, err := ws.ListRunSteps(ctx, res.RunID, &client.ListOptions{Size: 10, Hydrate: true})
	if err != nil || len(steps.Items) != 3 {
		t.Fatalf("steps = %+v, %v", steps, err)
	}
	byName := map[string]client.Step{}
	for _, s := range steps.Items {
		byName[s.Name] = s
		if s.Body.Status != client.StatusCompleted {
			t.Errorf("step %s is %s", s.Name, s.Body.Status)
		}
	}
	// Lineage: train's input is load's output; evaluate reads both.
	loadOut := byName["load"].Body.Outputs["data"]
	if len(loadOut) != 1 || len(byName["train"].Body.Inputs["data"]) != 1 || byName["train"].Body.Inputs["data"][0] != loadOut[0] {
		t.Fatalf("train's input %v is not load's output %v", byName["train"].Body.Inputs, loadOut)
	}
	if byName["evaluate"].Body.Inputs["model"][0] != byName["train"].Body.Outputs["model"][0] {
		t.Fatal("evaluate's model is not train's")
	}
	av, err := ws.GetArtifactVersion(ctx, loadOut[0], true)
	if err != nil || av.Body.ProducerPipelineRunID == nil || *av.Body.ProducerPipelineRunID != res.RunID {
		t.Fatalf("artifact version = %+v, %v", av.Body, err)
	}
	data, err := os.ReadFile(strings.TrimPrefix(av.Body.URI, "file://"))
	if err != nil || string(data) != "1,2\n3,4\n" {
		t.Fatalf("stored artifact: %q, %v", data, err)
	}
	logs, err := ws.StepLogs(ctx, byName["train"].ID)
	if err != nil || !strings.Contains(logs, "rows 2") {
		t.Fatalf("train logs %q, %v", logs, err)
	}
	logs, _ = ws.StepLogs(ctx, byName["evaluate"].ID)
	if !strings.Contains(logs, "weights") || !strings.Contains(logs, "accuracy 0.9") {
		t.Fatalf("evaluate logs %q", logs)
	}
	// The run's own log tells how it went, step by step, each line timed.
	logs, err = ws.RunLogs(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	wantRunLog(t, logs, "runner started: 3 steps of pipeline demo",
		"runner: step load running", "runner: step load completed",
		"runner: step train running", "runner: step train completed",
		"runner: step evaluate running", "runner: step evaluate completed",
		"runner finished: completed")
}

// wantRunLog fails unless the run log's lines are want, in that order,
// each after a time.
func wantRunLog(t *testing.T, log string, want ...string) {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		at, text, _ := strings.Cut(line, " ")
		if _, err := time.Parse(time.RFC3339, at); err != nil {
			t.Fatalf("run log line %q does not start with a time: %v", line, err)
		}
		got = append(got, text)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("run log:\n%s\nwant the lines %q", log, want)
	}
}

func TestFailedStepStopsItsDownstream(t *testing.T) {
	ws := startWorkspace(t)
	spec, err := Parse([]byte(`name: broken
steps:
  - {name: a, command: 'echo boom >&2; exit 3', outputs: [o]}
  - {name: b, command: 'true', inputs: {i: a.o}}
  - {name: c, command: 'echo independent'}
`))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := (&Runner{WS: ws, ArtifactDir: t.TempDir(), Out: &out}).Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != client.StatusFailed || res.Steps["a"] != client.StatusFailed || res.Steps["b"] != "skipped" || res.Steps["c"] != client.StatusCompleted {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(out.String(), "boom") {
		t.Fatalf("the failure's output is not shown:\n%s", out.String())
	}
	run, _ := ws.GetRun(context.Background(), res.RunID, false)
	if run.Body.Status != client.StatusFailed {
		t.Fatalf("recorded run status %s", run.Body.Status)
	}
	logs, err := ws.RunLogs(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	wantRunLog(t, logs, "runner started: 3 steps of pipeline broken",
		"runner: step a running", "runner: step a failed",
		"runner: step b skipped: an upstream step did not complete",
		"runner: step c running", "runner: step c completed",
		"runner finished: failed")
}

func TestMissingOutputFailsTheStep(t *testing.T) {
	ws := startWorkspace(t)
	spec, _ := Parse([]byte("name: lazy\nsteps: [{name: a, command: 'true', outputs: [o]}]\n"))
	res, err := (&Runner{WS: ws, ArtifactDir: t.TempDir()}).Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps["a"] != client.StatusFailed {
		t.Fatalf("a step that wrote no output: %+v", res)
	}
}

// A run stopped while a step runs starts no further step. Gracefully, the
// runner ends it as stopped; at once, the server has ended it already and
// the runner leaves it so.
func TestStoppedRunStartsNoFurtherStep(t *testing.T) {
	for _, graceful := range []bool{true, false} {
		t.Run(fmt.Sprintf("graceful=%v", graceful), func(t *testing.T) {
			ws := startWorkspace(t)
			ctx := context.Background()
			spec, err := Parse([]byte(`name: stoppable
steps:
  - {name: a, command: 'sleep 2'}
  - {name: b, command: 'echo b ran'}
`))
			if err != nil {
				t.Fatal(err)
			}
			stopped := make(chan error, 1)
			go func() {
				// Stop the run once its first step runs (and sleeps).
				for range 1000 {
					runs, err := ws.ListRuns(ctx, &client.ListOptions{Filters: map[string]string{"name": "startswith:stoppable-"}})
					if err != nil {
						stopped <- err
						return
					}
					if len(runs.Items) == 1 {
						steps, err := ws.ListRunSteps(ctx, runs.Items[0].ID, nil)
						if err != nil {
							stopped <- err
							return
						}
						if len(steps.Items) == 1 {
							stopped <- ws.StopRun(ctx, runs.Items[0].ID, graceful)
							return
						}
					}
					time.Sleep(10 * time.Millisecond)
				}
				stopped <- fmt.Errorf("the first step never started")
			}()
			var out bytes.Buffer
			res, err := (&Runner{WS: ws, ArtifactDir: t.TempDir(), Out: &out}).Run(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-stopped; err != nil {
				t.Fatal(err)
			}
			if res.Status != client.StatusStopped || res.Steps["a"] != client.StatusCompleted || res.Steps["b"] != "" {
				t.Fatalf("result %+v\n%s", res, out.String())
			}
			if strings.Contains(out.String(), "b ran") {
				t.Fatalf("step b ran:\n%s", out.String())
			}
			run, err := ws.GetRun(ctx, res.RunID, false)
			if err != nil {
				t.Fatal(err)
			}
			if run.Body.Status != client.StatusStopped || run.Body.EndTime == nil {
				t.Fatalf("recorded run: %+v", run.Body)
			}
		})
	}
}

// With enable_cache, a step equal to one that completed before (command,
// environment, inputs) is recorded as cached with that step's outputs, and
// the steps after it read them; a change runs the step and what follows.
// A runner interrupted (Ctrl-C, or its server stopping) while a step runs
// ends the step's command, records the step and the run as stopped, and
// starts no further step.
func TestInterruptedRunStops(t *testing.T) {
	ws := startWorkspace(t)
	mark := filepath.Join(t.TempDir(), "started")
	spec, err := Parse([]byte(`name: interrupted
env: {MARK: "` + mark + `"}
steps:
  - {name: a, command: 'echo started; touch "$MARK"; sleep 30'}
  - {name: b, after: [a], command: 'echo b ran'}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Interrupt once the first step's command runs.
		for range 2000 {
			if _, err := os.Stat(mark); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var out bytes.Buffer
	start := time.Now()
	res, err := (&Runner{WS: ws, ArtifactDir: t.TempDir(), Out: &out}).Run(ctx, spec)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if res.Status != client.StatusStopped || res.Steps["a"] != client.StatusStopped || res.Steps["b"] != "" {
		t.Fatalf("result %+v\n%s", res, out.String())
	}
	if time.Since(start) > 25*time.Second {
		t.Fatal("the step's command was not ended")
	}
	bg := context.Background()
	run, err := ws.GetRun(bg, res.RunID, false)
	if err != nil || run.Body.Status != client.StatusStopped || run.Body.EndTime == nil {
		t.Fatalf("recorded run: %+v, %v", run.Body, err)
	}
	steps, err := ws.ListRunSteps(bg, res.RunID, nil)
	if err != nil || len(steps.Items) != 1 || steps.Items[0].Body.Status != client.StatusStopped || steps.Items[0].Body.EndTime == nil {
		t.Fatalf("recorded steps: %+v, %v", steps.Items, err)
	}
	if logs, _ := ws.StepLogs(bg, steps.Items[0].ID); !strings.Contains(logs, "started") || !strings.Contains(logs, "step interrupted") {
		t.Fatalf("step log: %q", logs)
	}
	logs, err := ws.RunLogs(bg, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	wantRunLog(t, logs, "runner started: 2 steps of pipeline interrupted",
		"runner: step a running", "runner: step a stopped",
		"runner: interrupted: step b and the steps after it are not run",
		"runner finished: stopped")
}

func TestCachedStepsReuseOutputs(t *testing.T) {
	ws := startWorkspace(t)
	ctx := context.Background()
	pipeline := func(trainCmd string, cache bool) *Spec {
		t.Helper()
		spec, err := Parse([]byte(fmt.Sprintf(`name: cached
enable_cache: %v
env: {SEED: "7"}
steps:
  - {name: load, command: 'date +%%s%%N > "$ENCLAVE_OUTPUT_DATA"', outputs: [data]}
  - {name: train, command: '%s', inputs: {data: load.data}, outputs: [model]}
  - {name: report, command: 'echo report', enable_cache: false, after: [train]}
`, cache, trainCmd)))
		if err != nil {
			t.Fatal(err)
		}
		return spec
	}
	run := func(spec *Spec, noCache bool) (Result, map[string]client.Step) {
		t.Helper()
		var out bytes.Buffer
		res, err := (&Runner{WS: ws, ArtifactDir: t.TempDir(), Out: &out, NoCache: noCache}).Run(ctx, spec)
		if err != nil || !res.Succeeded() {
			t.Fatalf("run: %+v %v\n%s", res, err, out.String())
		}
		steps, err := ws.ListRunSteps(ctx, res.RunID, &client.ListOptions{Hydrate: true})
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]client.Step{}
		for _, st := range steps.Items {
			byName[st.Name] = st
		}
		return res, byName
	}
	train := `cp "$ENCLAVE_INPUT_DATA" "$ENCLAVE_OUTPUT_MODEL"`

	var ran []string // the runs in which load ran
	first, s1 := run(pipeline(train, true), false)
	ran = append(ran, first.RunID)
	if first.Status != client.StatusCompleted || s1["load"].Body.Status != client.StatusCompleted {
		t.Fatalf("first run: %+v", first)
	}
	second, s2 := run(pipeline(train, true), false)
	if second.Status != client.StatusCompleted || second.Steps["load"] != client.StatusCached || second.Steps["train"] != client.StatusCached ||
		second.Steps["report"] != client.StatusCompleted {
		t.Fatalf("second run: %+v", second)
	}
	if got, want := s2["train"].Body.Inputs["data"], s1["load"].Body.Outputs["data"]; !slices.Equal(got, want) {
		t.Fatalf("the cached train reads %v, want the first load's %v", got, want)
	}
	if got, want := s2["train"].Body.Outputs["model"], s1["train"].Body.Outputs["model"]; !slices.Equal(got, want) {
		t.Fatalf("the cached train's model is %v, want %v", got, want)
	}
	if logs, _ := ws.StepLogs(ctx, s2["load"].ID); !strings.Contains(logs, "cached: the outputs of step "+s1["load"].ID) {
		t.Fatalf("the cached step's log: %q", logs)
	}
	if logs, _ := ws.RunLogs(ctx, second.RunID); !strings.Contains(logs, " runner: step load cached\n") || !strings.Contains(logs, " runner: step train cached\n") {
		t.Fatalf("the run's log does not say which steps were cached:\n%s", logs)
	}
	av, err := ws.GetArtifactVersion(ctx, s1["load"].Body.Outputs["data"][0], true)
	if err != nil || av.Metadata.ProducerStepRunID == nil || *av.Metadata.ProducerStepRunID != s1["load"].ID {
		t.Fatalf("the data's producer stays the step that made it: %+v %v", av.Metadata, err)
	}

	// A changed command runs again, and so does what reads its output.
	third, _ := run(pipeline(train+` && echo tuned`, true), false)
	if third.Steps["load"] != client.StatusCached || third.Steps["train"] != client.StatusCompleted {
		t.Fatalf("after a change: %+v", third)
	}
	// --no-cache, and a pipeline without enable_cache, run everything.
	for _, c := range []struct {
		spec    *Spec
		noCache bool
	}{{pipeline(train, true), true}, {pipeline(train, false), false}} {
		res, _ := run(c.spec, c.noCache)
		if res.Steps["load"] != client.StatusCompleted || res.Steps["train"] != client.StatusCompleted {
			t.Fatalf("without the cache: %+v", res)
		}
		ran = append(ran, res.RunID)
	}
	// A pipeline whose every step is cached is cached as a whole.
	whole, err := Parse([]byte("name: whole\nenable_cache: true\nsteps:\n  - {name: only, command: 'echo x > \"$ENCLAVE_OUTPUT_X\"', outputs: [x]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	run(whole, false)
	if res, _ := run(whole, false); res.Status != client.StatusCached {
		t.Fatalf("all cached: %+v", res)
	}
	if r, _ := ws.GetRun(ctx, first.RunID, false); r.Body.Status != client.StatusCompleted {
		t.Fatalf("first run %s", r.Body.Status)
	}
	// Every run that ran load without the cache is deleted: the second
	// run, which reused their outputs, still lends them.
	for _, id := range ran {
		if err := ws.DeleteRun(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if again, s3 := run(pipeline(train, true), false); again.Steps["load"] != client.StatusCached ||
		!slices.Equal(s3["load"].Body.Outputs["data"], s2["load"].Body.Outputs["data"]) {
		t.Fatalf("after the runs that ran load went: %+v", again)
	}
}

// A snapshot recorded by Run gives back the pipeline it was recorded from,
// environments and enable_cache included, so that a run of the snapshot
// elsewhere runs the same steps the same way.
func TestSnapshotRoundTrip(t *testing.T) {
	ws := startWorkspace(t)
	ctx := context.Background()
	spec, err := Parse([]byte(`name: roundtrip
enable_cache: true
env: {A: "1"}
steps:
  - {name: load, command: 'echo 1 > "$ENCLAVE_OUTPUT_DATA"', outputs: [data], env: {B: "2"}}
  - {name: train, command: ["cat", "/dev/null"], inputs: {data: load.data}, enable_cache: false, after: [load], retry: {max_retries: 2, delay: 1.5, backoff: 2}}
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&Runner{WS: ws, ArtifactDir: t.TempDir()}).Run(ctx, spec)
	if err != nil || !res.Succeeded() {
		t.Fatalf("run: %+v %v", res, err)
	}
	run, err := ws.GetRun(ctx, res.RunID, false)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := ws.GetSnapshot(ctx, run.Body.SnapshotID, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromSnapshot(sn)
	if err != nil {
		t.Fatal(err)
	}
	want := *spec
	want.Steps = slices.Clone(spec.Steps)
	// The snapshot keeps a step's dependencies as one list.
	want.Steps[1].After = []string{"load"}
	for _, sp := range []*Spec{got, &want} { // empty and absent are alike
		for i := range sp.Steps {
			st := &sp.Steps[i]
			if len(st.Inputs) == 0 {
				st.Inputs = nil
			}
			if len(st.Env) == 0 {
				st.Env = nil
			}
			if len(st.Outputs) == 0 {
				st.Outputs = nil
			}
			if len(st.After) == 0 {
				st.After = nil
			}
		}
	}
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("from the snapshot:\n%+v\nrecorded from:\n%+v", got, &want)
	}
}

// With Parallel, steps whose inputs are ready run at once: here the two
// middle steps of a diamond each wait for the other to have started, which
// only works if they run side by side; the last step reads both.
func TestParallelStepsRunSideBySide(t *testing.T) {
	ws := startWorkspace(t)
	sync := t.TempDir()
	wait := func(me, other string) string {
		return fmt.Sprintf(`touch "$SYNC/%s"; for i in $(seq 300); do if [ -f "$SYNC/%s" ]; then echo %s > "$ENCLAVE_OUTPUT_PART"; exit 0; fi; sleep 0.1; done; echo "%s never started" >&2; exit 1`, me, other, me, other)
	}
	spec, err := Parse([]byte(fmt.Sprintf(`name: diamond
env: {SYNC: %q}
steps:
  - {name: a, command: 'echo start > "$ENCLAVE_OUTPUT_SEED"', outputs: [seed]}
  - {name: b, command: '%s', inputs: {seed: a.seed}, outputs: [part]}
  - {name: c, command: '%s', inputs: {seed: a.seed}, outputs: [part]}
  - {name: d, command: 'cat "$ENCLAVE_INPUT_B" "$ENCLAVE_INPUT_C"', inputs: {b: b.part, c: c.part}}
`, sync, wait("b", "c"), wait("c", "b"))))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := (&Runner{WS: ws, ArtifactDir: t.TempDir(), Out: &out, Parallel: 3}).Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != client.StatusCompleted || len(res.Steps) != 4 {
		t.Fatalf("result %+v\n%s", res, out.String())
	}
	steps, err := ws.ListRunSteps(context.Background(), res.RunID, &client.ListOptions{Hydrate: true, Filters: map[string]string{"name": "d"}})
	if err != nil || len(steps.Items) != 1 || len(steps.Items[0].Metadata.ParentStepIDs) != 2 {
		t.Fatalf("step d: %+v %v", steps.Items, err)
	}
	if logs, _ := ws.StepLogs(context.Background(), steps.Items[0].ID); logs != "b\nc\n" {
		t.Fatalf("d read %q", logs)
	}
}

// A step with retry runs its command again after a failure, in a fresh
// folder, and the step is recorded once: retrying while it waits, then how
// the last attempt ended, with every attempt in its log.
func TestRetriedStep(t *testing.T) {
	ws := startWorkspace(t)
	ctx := context.Background()
	marks := t.TempDir()
	// flaky fails the first time it runs for a given mark, then succeeds.
	flaky := func(mark string) string {
		return fmt.Sprintf(`if [ -f %q ]; then echo ok > "$ENCLAVE_OUTPUT_OUT"; else touch %q; echo "not yet" >&2; exit 1; fi`,
			marks+"/"+mark, marks+"/"+mark)
	}
	run := func(yaml string) (Result, client.Step) {
		t.Helper()
		spec, err := Parse([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		res, err := (&Runner{WS: ws, ArtifactDir: t.TempDir()}).Run(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		steps, err := ws.ListRunSteps(ctx, res.RunID, nil)
		if err != nil || len(steps.Items) != 1 {
			t.Fatalf("steps %+v %v", steps.Items, err)
		}
		return res, steps.Items[0]
	}

	res, st := run(fmt.Sprintf("name: retried\nsteps:\n  - {name: s, command: '%s', outputs: [out], retry: {max_retries: 2, delay: 0.05, backoff: 2}}\n", flaky("a")))
	if res.Status != client.StatusCompleted || st.Body.Status != client.StatusCompleted || len(st.Body.Outputs["out"]) != 1 {
		t.Fatalf("retried step: %+v %+v", res, st.Body)
	}
	if logs, _ := ws.StepLogs(ctx, st.ID); !strings.Contains(logs, "not yet") || !strings.Contains(logs, "attempt 1 of 3 failed; trying again in 50ms") {
		t.Fatalf("log of the retried step: %q", logs)
	}

	// Without retry the same failure ends the step.
	res, st = run(fmt.Sprintf("name: once\nsteps:\n  - {name: s, command: '%s', outputs: [out]}\n", flaky("b")))
	if res.Status != client.StatusFailed || st.Body.Status != client.StatusFailed {
		t.Fatalf("step without retry: %+v %+v", res, st.Body)
	}
	// Retries run out.
	res, st = run("name: hopeless\nsteps:\n  - {name: s, command: 'exit 3', retry: {max_retries: 1}}\n")
	if res.Status != client.StatusFailed {
		t.Fatalf("a step that always fails: %+v", res)
	}
	if logs, _ := ws.StepLogs(ctx, st.ID); strings.Count(logs, "step failed: exit status 3") != 2 {
		t.Fatalf("two attempts, two failures: %q", logs)
	}

	for _, bad := range []string{"{max_retries: 11}", "{max_retries: -1}", "{max_retries: 1, delay: -1}", "{max_retries: 1, backoff: 0.5}"} {
		if _, err := Parse([]byte("name: p\nsteps:\n  - {name: s, command: 'true', retry: " + bad + "}\n")); err == nil || !strings.Contains(err.Error(), "retry.") {
			t.Errorf("retry %s: %v", bad, err)
		}
	}
}
