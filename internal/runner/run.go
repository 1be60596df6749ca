package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/procgroup"
)

// Runner runs pipelines against one workspace.
type Runner struct {
	WS          *client.Workspace
	ArtifactDir string    // the local artifact store: outputs are kept under it
	Out         io.Writer // progress for people; nil for none
	NoCache     bool      // run every step, whatever enable_cache says
	Parallel    int       // steps run at once when their inputs allow (0 or 1: one at a time)

	outMu sync.Mutex // Out is written by the steps running at once
}

// Result says how a run ended.
type Result struct {
	RunID  string
	Status string
	Steps  map[string]string // step name → status
}

func (r *Runner) printf(format string, args ...any) {
	if r.Out != nil {
		r.outMu.Lock()
		defer r.outMu.Unlock()
		fmt.Fprintf(r.Out, format, args...)
	}
}

// runState is what the steps of a run leave for those after them: the
// artifact version of each "step.output" and the id of each step.
type runState struct {
	mu      sync.Mutex
	outputs map[string]string
	stepIDs map[string]string
}

func (rs *runState) output(ref string) string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.outputs[ref]
}

func (rs *runState) stepID(name string) string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.stepIDs[name]
}

func (rs *runState) setStep(name, id string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.stepIDs[name] = id
}

func (rs *runState) setOutput(ref, avID string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.outputs[ref] = avID
}

// Run runs spec and records everything in the workspace. The returned error
// is about recording; a failing step gives a Result with status "failed".
func (r *Runner) Run(ctx context.Context, spec *Spec) (Result, error) {
	order, err := spec.Order()
	if err != nil {
		return Result{}, err
	}
	project := spec.Project
	if project == "" {
		project = "default"
	}
	proj, err := r.WS.GetProject(ctx, project)
	if err != nil {
		return Result{}, fmt.Errorf("project %s: %w", project, err)
	}
	pipeline, err := r.pipeline(ctx, spec, proj.ID)
	if err != nil {
		return Result{}, err
	}
	snap, err := r.snapshot(ctx, spec, proj.ID, pipeline.ID)
	if err != nil {
		return Result{}, err
	}
	start := client.NewTime(time.Now())
	run, err := r.WS.CreateRun(ctx, client.RunRequest{
		Name:     fmt.Sprintf("%s-%s", spec.Name, time.Now().UTC().Format("20060102-150405.000000")),
		Snapshot: snap.ID, Project: proj.ID, Status: client.StatusRunning, StartTime: &start,
	})
	if err != nil {
		return Result{}, fmt.Errorf("create run: %w", err)
	}
	r.printf("run %s (%s)\n", run.Name, run.ID)
	if err := r.logStart(ctx, run.ID, spec, len(order)); err != nil {
		r.finish(run.ID, client.StatusFailed)
		return Result{RunID: run.ID}, err
	}
	res, ended, err := r.runSteps(ctx, order, spec, run.ID, proj.ID)
	if err != nil {
		r.finish(run.ID, client.StatusFailed)
		return res, err
	}
	if !ended {
		r.logEnd(ctx, run.ID, res.Status)
		if err := r.finish(run.ID, res.Status); err != nil {
			return res, err
		}
	}
	r.printf("run %s %s\n", run.Name, res.Status)
	return res, nil
}

// runSteps runs the steps (in order, which respects their dependencies)
// into the run runID and says how the run ends: up to Parallel at once, each
// as soon as the steps it depends on have ended. A step that fails does not
// stop the others, only those downstream of it, which are skipped. Before it
// starts a step it reads the run: a run asked to stop gracefully (stopping)
// starts no further step, lets those running finish, and ends as stopped; a
// run the server has stopped already (stopped) has ended, which ended says:
// it is not ended again.
func (r *Runner) runSteps(ctx context.Context, order []StepSpec, spec *Spec, runID, projectID string) (res Result, ended bool, err error) {
	res = Result{RunID: runID, Status: client.StatusCompleted, Steps: map[string]string{}}
	state := &runState{outputs: map[string]string{}, stepIDs: map[string]string{}}
	type result struct {
		name, status string
		err          error
	}
	results := make(chan result)
	pending := slices.Clone(order)
	running, stop := 0, ""
	for {
		// Start what may start, in order.
		for i := 0; i < len(pending) && running < max(r.Parallel, 1) && err == nil && stop == ""; {
			st := pending[i]
			ups := st.Upstream()
			if slices.ContainsFunc(ups, func(up string) bool { _, ok := res.Steps[up]; return !ok }) {
				i++ // waits for a step still running
				continue
			}
			if ctx.Err() != nil {
				r.printf("  interrupted: %s and the steps after it are not run\n", st.Name)
				_ = r.runLog(context.WithoutCancel(ctx), runID, "runner: interrupted: step "+st.Name+" and the steps after it are not run")
				stop = client.StatusStopping
				break
			}
			pending = slices.Delete(pending, i, i+1)
			if slices.ContainsFunc(ups, func(up string) bool { return !succeeded(res.Steps[up]) }) {
				r.stepEvent(ctx, runID, st.Name, "skipped: an upstream step did not complete")
				res.Steps[st.Name] = "skipped"
				continue
			}
			run, rerr := r.WS.GetRun(ctx, runID, false)
			if rerr != nil {
				err = fmt.Errorf("read run %s: %w", runID, rerr)
				break
			}
			if s := run.Body.Status; s == client.StatusStopping || s == client.StatusStopped {
				r.printf("  the run was asked to stop: %s and the steps after it are not run\n", st.Name)
				_ = r.runLog(context.WithoutCancel(ctx), runID, "runner: the run was asked to stop: step "+st.Name+" and the steps after it are not run")
				stop = s
				break
			}
			running++
			go func() {
				status, err := r.step(ctx, st, spec, runID, projectID, state)
				results <- result{st.Name, status, err}
			}()
		}
		if running == 0 {
			break
		}
		d := <-results
		running--
		if d.err != nil {
			if err == nil {
				err = d.err
			}
			continue
		}
		res.Steps[d.name] = d.status
		if !succeeded(d.status) {
			res.Status = client.StatusFailed
		}
	}
	if ctx.Err() != nil && stop == "" {
		stop = client.StatusStopping // interrupted while its last steps ran
	}
	switch {
	case err != nil:
		return res, false, err
	case stop != "":
		res.Status = client.StatusStopped
		return res, stop == client.StatusStopped, nil
	}
	if res.Status == client.StatusCompleted && !slices.ContainsFunc(order, func(st StepSpec) bool { return res.Steps[st.Name] != client.StatusCached }) {
		res.Status = client.StatusCached // nothing ran: every step was cached
	}
	return res, false, nil
}

// succeeded says whether a step's status lets the steps after it run.
func succeeded(status string) bool {
	return status == client.StatusCompleted || status == client.StatusCached
}

// Succeeded says whether the run ended well: completed, or cached whole.
func (r Result) Succeeded() bool { return succeeded(r.Status) }

func (r *Runner) finish(runID, status string) error {
	end := client.NewTime(time.Now())
	_, err := r.WS.UpdateRun(context.Background(), runID, client.RunUpdate{Status: &status, EndTime: &end})
	if err != nil {
		return fmt.Errorf("record the run's end: %w", err)
	}
	return nil
}

func (r *Runner) pipeline(ctx context.Context, spec *Spec, projectID string) (client.Pipeline, error) {
	page, err := r.WS.ListPipelines(ctx, &client.ListOptions{Project: projectID, Filters: map[string]string{"name": spec.Name}})
	if err != nil {
		return client.Pipeline{}, fmt.Errorf("find pipeline: %w", err)
	}
	if len(page.Items) > 0 {
		return page.Items[0], nil
	}
	p, err := r.WS.CreatePipeline(ctx, client.PipelineRequest{Name: spec.Name, Project: projectID})
	if client.StatusOf(err) == 409 { // created meanwhile by another runner
		page, err = r.WS.ListPipelines(ctx, &client.ListOptions{Project: projectID, Filters: map[string]string{"name": spec.Name}})
		if err == nil && len(page.Items) > 0 {
			return page.Items[0], nil
		}
	}
	if err != nil {
		return p, fmt.Errorf("create pipeline: %w", err)
	}
	return p, nil
}

func (r *Runner) snapshot(ctx context.Context, spec *Spec, projectID, pipelineID string) (client.Snapshot, error) {
	stacks, err := r.WS.ListStacks(ctx, &client.ListOptions{Filters: map[string]string{"name": "default"}})
	if err != nil || len(stacks.Items) == 0 {
		return client.Snapshot{}, fmt.Errorf("find the default stack: %v", err)
	}
	conf, _ := json.Marshal(map[string]any{"name": spec.Name, "env": spec.Env, "enable_cache": spec.EnableCache})
	steps := map[string]json.RawMessage{}
	var specSteps []map[string]any
	for _, st := range spec.Steps {
		b, _ := json.Marshal(snapshotStep{Command: st.Command, Inputs: st.Inputs, Outputs: st.Outputs, UpstreamSteps: st.Upstream(),
			Env: st.Env, EnableCache: st.EnableCache, Retry: st.Retry})
		steps[st.Name] = b
		specSteps = append(specSteps, map[string]any{"name": st.Name, "upstream_steps": st.Upstream()})
	}
	pspec, _ := json.Marshal(map[string]any{"version": "0.4", "steps": specSteps})
	snap, err := r.WS.CreateSnapshot(ctx, client.SnapshotRequest{
		Project: projectID, Pipeline: pipelineID, Stack: stacks.Items[0].ID,
		RunNameTemplate: spec.Name + "-{date}-{time}", PipelineConfiguration: conf,
		StepConfigurations: steps, PipelineSpec: pspec, ClientVersion: "enclave-runner",
	})
	if err != nil {
		return snap, fmt.Errorf("create snapshot: %w", err)
	}
	return snap, nil
}

// step runs one step and records it; the error is about recording only.
func (r *Runner) step(ctx context.Context, st StepSpec, spec *Spec, runID, projectID string, state *runState) (string, error) {
	inputs := map[string][]string{}
	for name, ref := range st.Inputs {
		inputs[name] = []string{state.output(ref)}
	}
	var parents []string
	for _, up := range st.Upstream() {
		parents = append(parents, state.stepID(up))
	}
	cmdJSON, _ := json.Marshal(map[string]any{"command": st.Command, "outputs": st.Outputs})
	req := client.StepRequest{Name: st.Name, PipelineRunID: runID, Inputs: inputs, ParentStepIDs: parents,
		Config: cmdJSON, CacheKey: cacheKey(st, spec.Env, inputs)}
	if spec.cached(st) && !r.NoCache {
		status, ok, err := r.reuse(ctx, st, req, projectID, state)
		if err != nil || ok {
			return status, err
		}
	}
	start := client.NewTime(time.Now())
	req.Status, req.StartTime = client.StatusRunning, &start
	step, err := r.WS.CreateStep(ctx, req)
	if err != nil {
		return "", fmt.Errorf("create step %s: %w", st.Name, err)
	}
	state.setStep(st.Name, step.ID)
	r.stepEvent(ctx, runID, st.Name, "running")

	logs := &logSink{ws: r.WS, stepID: step.ID, tail: procgroup.Tail{Max: 2 << 10}}
	retry := Retry{}
	if st.Retry != nil {
		retry = *st.Retry
	}
	delay := time.Duration(retry.Delay * float64(time.Second))
	var status string
	var produced map[string][]string
	for attempt := 1; ; attempt++ {
		if status, produced, err = r.attempt(ctx, st, spec, runID, projectID, state, logs); err != nil {
			return "", err
		}
		if status == client.StatusCompleted || attempt > retry.MaxRetries || ctx.Err() != nil {
			break
		}
		fmt.Fprintf(logs, "\nattempt %d of %d failed; trying again in %s\n", attempt, retry.MaxRetries+1, delay)
		if err := logs.flush(ctx); err != nil {
			return "", fmt.Errorf("record logs of %s: %w", st.Name, err)
		}
		if err := r.stepStatus(ctx, step.ID, client.StatusRetrying); err != nil {
			return "", err
		}
		r.stepEvent(ctx, runID, st.Name, fmt.Sprintf("retrying: attempt %d failed", attempt))
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = time.Duration(float64(delay) * max(retry.Backoff, 1))
		if err := r.stepStatus(ctx, step.ID, client.StatusRunning); err != nil {
			return "", err
		}
	}
	// A step interrupted is still recorded: its end is what the run's
	// stop is made of.
	rec := context.WithoutCancel(ctx)
	if err := logs.flush(rec); err != nil {
		return "", fmt.Errorf("record logs of %s: %w", st.Name, err)
	}
	end := client.NewTime(time.Now())
	if _, err := r.WS.UpdateStep(rec, step.ID, client.StepUpdate{Status: &status, EndTime: &end, Outputs: produced}); err != nil {
		return "", fmt.Errorf("record step %s: %w", st.Name, err)
	}
	r.stepEvent(ctx, runID, st.Name, status)
	if status != client.StatusCompleted {
		r.printf("%s", indent(logs.tail.String()))
	}
	return status, nil
}

// attempt runs a step's command once, in a fresh folder, and stores its
// outputs if it succeeds; the error is about recording only.
func (r *Runner) attempt(ctx context.Context, st StepSpec, spec *Spec, runID, projectID string, state *runState, logs *logSink) (string, map[string][]string, error) {
	dir, err := os.MkdirTemp("", "enclave-step-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(dir)
	env := os.Environ()
	for k, v := range spec.Env {
		env = append(env, k+"="+v)
	}
	for k, v := range st.Env {
		env = append(env, k+"="+v)
	}
	env = append(env, "ENCLAVE_STEP_NAME="+st.Name, "ENCLAVE_RUN_ID="+runID)
	outPaths := map[string]string{}
	for _, o := range st.Outputs {
		p := filepath.Join(dir, "outputs", o)
		outPaths[o] = p
		env = append(env, "ENCLAVE_OUTPUT_"+strings.ToUpper(o)+"="+p)
	}
	if err := os.MkdirAll(filepath.Join(dir, "outputs"), 0o700); err != nil {
		return "", nil, err
	}
	for name, ref := range st.Inputs {
		p, err := r.inputPath(ctx, state.output(ref))
		if err != nil {
			return "", nil, err
		}
		env = append(env, "ENCLAVE_INPUT_"+strings.ToUpper(name)+"="+p)
	}
	cmd := exec.CommandContext(ctx, st.Command[0], st.Command[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, logs, logs
	// The command and what it starts are one process group: an interrupted
	// step ends all of them (SIGTERM, then SIGKILL after a grace period),
	// not only the shell.
	procgroup.Own(cmd, syscall.SIGTERM, stepGrace)
	err = cmd.Run()
	_ = procgroup.Signal(cmd, syscall.SIGKILL) // what it left running
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(logs, "\nstep interrupted: %v\n", err)
			return client.StatusStopped, nil, nil
		}
		fmt.Fprintf(logs, "\nstep failed: %v\n", err)
		return client.StatusFailed, nil, nil
	}
	produced := map[string][]string{}
	for _, o := range st.Outputs {
		av, err := r.storeOutput(ctx, runID, st.Name, o, outPaths[o], projectID, spec.Name)
		if err != nil {
			fmt.Fprintf(logs, "\noutput %s: %v\n", o, err)
			return client.StatusFailed, nil, nil
		}
		produced[o] = []string{av}
		state.setOutput(st.Name+"."+o, av)
	}
	return client.StatusCompleted, produced, nil
}

// stepGrace is how long an interrupted step's commands have to end after
// SIGTERM.
const stepGrace = 10 * time.Second

// stepStatus records a step's status while it runs.
func (r *Runner) stepStatus(ctx context.Context, stepID, status string) error {
	if _, err := r.WS.UpdateStep(ctx, stepID, client.StepUpdate{Status: &status}); err != nil {
		return fmt.Errorf("record step %s: %w", stepID, err)
	}
	return nil
}

// storeOutput copies an output file into the artifact store, content
// addressed, and records it as a new version of the artifact <pipeline>.<step>.<output>.
func (r *Runner) storeOutput(ctx context.Context, runID, step, name, path, projectID, pipeline string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("the step did not write it (%v)", err)
	}
	defer f.Close()
	if err := os.MkdirAll(r.ArtifactDir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(r.ArtifactDir, ".upload-")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(tmp, h), f)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	dst := filepath.Join(r.ArtifactDir, "sha256", sum[:2], sum)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", err
	}
	abs, _ := filepath.Abs(dst)
	dataType, _ := json.Marshal(map[string]any{"attribute": "file", "module": "enclave.runner", "size": size, "sha256": sum})
	av, err := r.WS.CreateArtifactVersion(ctx, client.ArtifactVersionRequest{
		ArtifactName: pipeline + "." + step + "." + name, Project: projectID, Type: "DataArtifact",
		URI: "file://" + abs, DataType: dataType, SaveType: "step_output",
	})
	if err != nil {
		return "", fmt.Errorf("record artifact version: %w", err)
	}
	return av.ID, nil
}

// inputPath turns an input's artifact version into a local path.
func (r *Runner) inputPath(ctx context.Context, avID string) (string, error) {
	av, err := r.WS.GetArtifactVersion(ctx, avID, false)
	if err != nil {
		return "", fmt.Errorf("input artifact %s: %w", avID, err)
	}
	p, ok := strings.CutPrefix(av.Body.URI, "file://")
	if !ok {
		return "", fmt.Errorf("input artifact %s is at %s, not in a local artifact store", avID, av.Body.URI)
	}
	return p, nil
}
