package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/enclave-mlops/enclave/client"
)

// cacheKey is what makes two steps the same for enable_cache: the command,
// the environment the pipeline and the step give it, the artifact versions
// it reads, and the outputs it names.
func cacheKey(st StepSpec, pipelineEnv map[string]string, inputs map[string][]string) string {
	h := sha256.New()
	field := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	field(st.Command...)
	env := maps.Clone(pipelineEnv)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, st.Env)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		field("env", k, env[k])
	}
	for _, k := range slices.Sorted(maps.Keys(inputs)) {
		field(append([]string{"input", k}, inputs[k]...)...)
	}
	field(append([]string{"outputs"}, slices.Sorted(slices.Values(st.Outputs))...)...)
	return hex.EncodeToString(h.Sum(nil))
}

// reuse records the step of req as cached when a step of the project with
// its cache key completed (or was cached itself) before and all the outputs
// st names are still in the artifact store; ok says whether it did.
func (r *Runner) reuse(ctx context.Context, st StepSpec, req client.StepRequest, projectID string, state *runState) (status string, ok bool, err error) {
	prev, err := r.WS.ListSteps(ctx, &client.ListOptions{Size: 1, SortBy: "desc:created", Hydrate: true,
		Filters: map[string]string{"cache_key": req.CacheKey, "status": `oneof:["completed","cached"]`, "project_id": projectID}})
	if err != nil {
		return "", false, fmt.Errorf("look up step %s in the cache: %w", st.Name, err)
	}
	if len(prev.Items) == 0 {
		return "", false, nil
	}
	src := prev.Items[0]
	outs := map[string][]string{}
	for _, o := range st.Outputs {
		ids := src.Body.Outputs[o]
		if len(ids) != 1 {
			return "", false, nil
		}
		p, err := r.inputPath(ctx, ids[0])
		if err != nil {
			return "", false, nil // gone from the workspace, or not local: run the step
		}
		if _, err := os.Stat(p); err != nil {
			return "", false, nil
		}
		outs[o] = ids
	}
	now := client.NewTime(time.Now())
	req.Status, req.StartTime, req.EndTime, req.Outputs = client.StatusCached, &now, &now, outs
	step, err := r.WS.CreateStep(ctx, req)
	if err != nil {
		return "", false, fmt.Errorf("create step %s: %w", st.Name, err)
	}
	state.setStep(st.Name, step.ID)
	for o, ids := range outs {
		state.setOutput(st.Name+"."+o, ids[0])
	}
	from := src.ID
	if src.Metadata != nil {
		from += " of run " + src.Metadata.PipelineRunID
	}
	if err := r.WS.AppendStepLogs(ctx, step.ID, "cached: the outputs of step "+from+", which ran with the same command, environment and inputs\n"); err != nil {
		return "", false, fmt.Errorf("record logs of %s: %w", st.Name, err)
	}
	r.stepEvent(ctx, req.PipelineRunID, st.Name, "cached")
	return client.StatusCached, true, nil
}
