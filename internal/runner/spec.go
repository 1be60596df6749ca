// Package runner runs a pipeline described in YAML on this machine and
// records it in a workspace through the public client: the run, its steps,
// their statuses and logs, and every output file as an artifact version with
// its lineage. It is how a user of the embedded default gets real data
// without any other SDK, and it knows nothing of the server's internals.
package runner

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Spec is a pipeline file.
//
//	name: train
//	project: default            # optional
//	env: {SEED: "1"}            # optional, for every step
//	steps:
//	  - name: load
//	    command: echo 1,2,3 > "$ENCLAVE_OUTPUT_DATA"
//	    outputs: [data]
//	  - name: train
//	    inputs: {data: load.data}   # another step's output; implies the dependency
//	    after: [load]               # further dependencies without data
//	    command: ["python3", "train.py"]
//	    outputs: [model]
//	    enable_cache: true          # optional; also for the whole pipeline
//	    retry: {max_retries: 2, delay: 5, backoff: 2}   # optional
//
// A command is a string (run by /bin/sh -c) or a list (run directly). Each
// step runs in a fresh folder; ENCLAVE_INPUT_<NAME> holds the path of each
// input, ENCLAVE_OUTPUT_<NAME> the path each output must be written to.
//
// With enable_cache (off unless asked for: a command may read what no input
// names), a step whose command, environment and inputs equal those of a step
// that completed earlier in the project is not run again: it is recorded as
// cached, with that step's outputs.
type Spec struct {
	Name        string            `json:"name"`
	Project     string            `json:"project,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	EnableCache bool              `json:"enable_cache,omitempty"`
	Steps       []StepSpec        `json:"steps"`
}

// StepSpec is one step of a pipeline.
type StepSpec struct {
	Name    string            `json:"name"`
	Command Command           `json:"command"`
	Inputs  map[string]string `json:"inputs,omitempty"`
	Outputs []string          `json:"outputs,omitempty"`
	After   []string          `json:"after,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	// EnableCache overrides the pipeline's enable_cache for this step.
	EnableCache *bool `json:"enable_cache,omitempty"`
	// Retry runs a failed command again (a step whose command fails for a
	// passing reason: the network, a busy device).
	Retry *Retry `json:"retry,omitempty"`
}

// Retry is how often and when a failed step is tried again, as ZenML's
// step retry configuration names it: up to MaxRetries more times, the first
// after Delay seconds, each later one after Backoff times the one before.
type Retry struct {
	MaxRetries int     `json:"max_retries"`
	Delay      float64 `json:"delay,omitempty"`
	Backoff    float64 `json:"backoff,omitempty"`
}

func (r *Retry) validate() error {
	switch {
	case r.MaxRetries < 0 || r.MaxRetries > 10:
		return fmt.Errorf("retry.max_retries must be 0 to 10, not %d", r.MaxRetries)
	case r.Delay < 0 || r.Delay > 3600:
		return fmt.Errorf("retry.delay must be 0 to 3600 seconds, not %v", r.Delay)
	case r.Backoff != 0 && (r.Backoff < 1 || r.Backoff > 10):
		return fmt.Errorf("retry.backoff must be 1 to 10, not %v", r.Backoff)
	}
	return nil
}

// cached says whether st may reuse the outputs of an earlier, equal step.
func (s *Spec) cached(st StepSpec) bool {
	if st.EnableCache != nil {
		return *st.EnableCache
	}
	return s.EnableCache
}

// Command is a shell string or an argument list.
type Command []string

// UnmarshalJSON takes a string (for /bin/sh -c) or a list.
func (c *Command) UnmarshalJSON(b []byte) error {
	var s string
	// sigs.k8s.io/yaml hands us JSON: a number stays a number here.
	if err := json.Unmarshal(b, &s); err == nil {
		*c = Command{"/bin/sh", "-c", s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("command must be a string or a list of strings")
	}
	*c = list
	return nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// Parse reads and checks a pipeline file.
func Parse(data []byte) (*Spec, error) {
	var s Spec
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("pipeline file: %w", err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("pipeline file: %w", err)
	}
	return &s, nil
}

func (s *Spec) validate() error {
	if !namePattern.MatchString(s.Name) {
		return fmt.Errorf("name %q must start with a letter and hold only letters, digits, _ and - (64 at most)", s.Name)
	}
	if len(s.Steps) == 0 {
		return fmt.Errorf("no steps")
	}
	if len(s.Steps) > 1000 {
		return fmt.Errorf("%d steps: at most 1000", len(s.Steps))
	}
	steps := map[string]*StepSpec{}
	for i := range s.Steps {
		st := &s.Steps[i]
		if !namePattern.MatchString(st.Name) {
			return fmt.Errorf("step %d: name %q must start with a letter and hold only letters, digits, _ and -", i+1, st.Name)
		}
		if steps[st.Name] != nil {
			return fmt.Errorf("two steps are named %q", st.Name)
		}
		steps[st.Name] = st
		if len(st.Command) == 0 || st.Command[0] == "" {
			return fmt.Errorf("step %s: no command", st.Name)
		}
		if st.Retry != nil {
			if err := st.Retry.validate(); err != nil {
				return fmt.Errorf("step %s: %w", st.Name, err)
			}
		}
		seen := map[string]bool{}
		for _, o := range st.Outputs {
			if !namePattern.MatchString(o) || seen[strings.ToUpper(o)] {
				return fmt.Errorf("step %s: output %q is not a valid, unique name", st.Name, o)
			}
			seen[strings.ToUpper(o)] = true
		}
		for k := range st.Inputs {
			if !namePattern.MatchString(k) {
				return fmt.Errorf("step %s: input %q is not a valid name", st.Name, k)
			}
		}
	}
	for _, st := range s.Steps {
		for in, ref := range st.Inputs {
			from, out, ok := strings.Cut(ref, ".")
			if !ok {
				return fmt.Errorf("step %s: input %s = %q must name another step's output as step.output", st.Name, in, ref)
			}
			src := steps[from]
			if src == nil {
				return fmt.Errorf("step %s: input %s = %q names unknown step %q", st.Name, in, ref, from)
			}
			found := false
			for _, o := range src.Outputs {
				found = found || o == out
			}
			if !found {
				return fmt.Errorf("step %s: input %s: step %s has no output %q", st.Name, in, from, out)
			}
		}
		for _, a := range st.After {
			if steps[a] == nil {
				return fmt.Errorf("step %s: after names unknown step %q", st.Name, a)
			}
		}
	}
	_, err := s.Order()
	return err
}

// Upstream returns the steps a step waits for, sorted.
func (st StepSpec) Upstream() []string {
	set := map[string]bool{}
	for _, a := range st.After {
		set[a] = true
	}
	for _, ref := range st.Inputs {
		from, _, _ := strings.Cut(ref, ".")
		set[from] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Order returns the steps in an order that respects every dependency (the
// file's order where it is free), or an error naming a cycle.
func (s *Spec) Order() ([]StepSpec, error) {
	index := map[string]int{}
	for i, st := range s.Steps {
		index[st.Name] = i
	}
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var out []StepSpec
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("steps depend on each other in a cycle: %s", strings.Join(append(path, name), " → "))
		case 2:
			return nil
		}
		state[name] = 1
		for _, up := range s.Steps[index[name]].Upstream() {
			if err := visit(up, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, s.Steps[index[name]])
		return nil
	}
	for _, st := range s.Steps {
		if err := visit(st.Name, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
