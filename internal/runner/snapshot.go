package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/enclave-mlops/enclave/client"
)

// A snapshot that Run recorded holds the whole pipeline: its name, env and
// enable_cache in pipeline_configuration, and per step the command, inputs,
// outputs, upstream steps, env, enable_cache and retry in
// step_configurations. That is enough to run it again
// elsewhere, which is what the workload manager does: the workspace server
// creates a placeholder run and starts `enclave pipeline run-snapshot` in a
// Kubernetes Job, which calls FromSnapshot and RunInto.

// snapshotStep is what Run writes for each step of a snapshot.
type snapshotStep struct {
	Command       Command           `json:"command"`
	Inputs        map[string]string `json:"inputs"`
	Outputs       []string          `json:"outputs"`
	UpstreamSteps []string          `json:"upstream_steps"`
	Env           map[string]string `json:"env,omitempty"`
	EnableCache   *bool             `json:"enable_cache,omitempty"`
	Retry         *Retry            `json:"retry,omitempty"`
}

// FromSnapshot rebuilds the Spec a snapshot was recorded from. sn must be
// hydrated. The error says why a snapshot cannot be run (for instance one
// recorded by another SDK, whose steps carry no command); the workspace
// server uses it to refuse such snapshots before it starts anything.
func FromSnapshot(sn client.Snapshot) (*Spec, error) {
	if sn.Metadata == nil {
		return nil, fmt.Errorf("snapshot %s: its configuration was not read (hydrate it)", sn.ID)
	}
	md := sn.Metadata
	var pc struct {
		Name        string            `json:"name"`
		Env         map[string]string `json:"env"`
		EnableCache bool              `json:"enable_cache"`
	}
	if len(md.PipelineConfiguration) > 0 {
		if err := json.Unmarshal(md.PipelineConfiguration, &pc); err != nil {
			return nil, fmt.Errorf("snapshot %s: pipeline_configuration: %v", sn.ID, err)
		}
	}
	if len(md.StepConfigurations) == 0 {
		return nil, fmt.Errorf("snapshot %s has no step configurations to run", sn.ID)
	}
	spec := &Spec{Name: pc.Name, Env: pc.Env, EnableCache: pc.EnableCache}
	names := make([]string, 0, len(md.StepConfigurations))
	for name := range md.StepConfigurations {
		names = append(names, name)
	}
	// Steps without a dependency between them run in name order: stable
	// from one run of the snapshot to the next.
	sort.Strings(names)
	for _, name := range names {
		var st snapshotStep
		if err := json.Unmarshal(md.StepConfigurations[name], &st); err != nil {
			return nil, fmt.Errorf("snapshot %s: step %s: %v", sn.ID, name, err)
		}
		if len(st.Command) == 0 {
			return nil, fmt.Errorf("snapshot %s: step %s has no command: only snapshots recorded by 'enclave pipeline run' can be run by Enclave's runner", sn.ID, name)
		}
		spec.Steps = append(spec.Steps, StepSpec{Name: name, Command: st.Command, Inputs: st.Inputs, Outputs: st.Outputs, After: st.UpstreamSteps,
			Env: st.Env, EnableCache: st.EnableCache, Retry: st.Retry})
	}
	if err := spec.validate(); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", sn.ID, err)
	}
	return spec, nil
}

// RunInto runs spec into the run runID, which someone else created and
// which has not started yet (status initializing): the placeholder of a
// snapshot run. It moves the run to running, records the steps, their logs
// and outputs like Run, and ends the run. A run that has already started is
// refused, so that a retried runner never runs the steps twice.
func (r *Runner) RunInto(ctx context.Context, spec *Spec, runID string) (Result, error) {
	order, err := spec.Order()
	if err != nil {
		return Result{}, err
	}
	run, err := r.WS.GetRun(ctx, runID, false)
	if err != nil {
		return Result{}, fmt.Errorf("run %s: %w", runID, err)
	}
	if run.Body.Status != client.StatusInitializing {
		return Result{}, fmt.Errorf("run %s is %s, not waiting to start: it is not run again", runID, run.Body.Status)
	}
	running := client.StatusRunning
	upd := client.RunUpdate{Status: &running}
	if host, err := os.Hostname(); err == nil {
		upd.OrchestratorRunID = &host // the pod's name in a Job
	}
	if _, err := r.WS.UpdateRun(ctx, runID, upd); err != nil {
		return Result{}, fmt.Errorf("start run %s: %w", runID, err)
	}
	r.printf("run %s (%s)\n", run.Name, run.ID)
	if err := r.logStart(ctx, runID, spec, len(order)); err != nil {
		r.finish(runID, client.StatusFailed)
		return Result{RunID: runID}, err
	}
	res, ended, err := r.runSteps(ctx, order, spec, runID, run.Body.ProjectID)
	if err != nil {
		r.finish(runID, client.StatusFailed)
		return res, err
	}
	if ended {
		r.printf("run %s stopped\n", run.Name)
		return res, nil
	}
	// The run's log is written before its end: the token of a snapshot run
	// stops working once the run has ended.
	r.logEnd(ctx, runID, res.Status)
	if err := r.finish(runID, res.Status); err != nil {
		return res, err
	}
	r.printf("run %s %s\n", run.Name, res.Status)
	return res, nil
}
