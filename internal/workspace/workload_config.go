package workspace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/enclave-mlops/enclave/internal/kubejob"
)

// WorkloadConfig configures the workload manager, which runs snapshots
// (POST /api/v1/pipeline_snapshots/{id}/runs) as Kubernetes Jobs, or, with
// the source "local", as processes on the server's own machine (what
// `enclave up` uses). It is read from the variables the original server's
// chart values set under zenml.environment.
type WorkloadConfig struct {
	Source         string // ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE; empty: off
	Namespace      string // ZENML_KUBERNETES_WORKLOAD_MANAGER_NAMESPACE; empty: the server's own
	ServiceAccount string // ZENML_KUBERNETES_WORKLOAD_MANAGER_SERVICE_ACCOUNT; empty: the namespace's default
	RunnerImage    string // ZENML_KUBERNETES_WORKLOAD_MANAGER_RUNNER_IMAGE, else ENCLAVE_IMAGE (the server's own)
	Resources      *kubejob.Resources
	NodeSelector   map[string]string
	Tolerations    []kubejob.Toleration
	TTLSeconds     *int32 // ZENML_KUBERNETES_WORKLOAD_MANAGER_TTL_SECONDS_AFTER_FINISHED; nil: kept
	BackoffLimit   int32  // ZENML_KUBERNETES_WORKLOAD_MANAGER_JOB_BACKOFF_LIMIT (default 0)
	MaxConcurrent  int    // ZENML_SERVER_MAX_CONCURRENT_TEMPLATE_RUNS (default 2)
	ServerURL      string // ENCLAVE_WORKLOAD_SERVER_URL, else ZENML_SERVER_URL: how runners reach the server
	Kubeconfig     string // KUBECONFIG; empty: the pod's service account

	// With the source "local":
	LocalRunner   string // ENCLAVE_LOCAL_RUNNER: the enclave binary to run; empty: the server's own
	ArtifactStore string // ENCLAVE_ARTIFACT_STORE: the runners' artifact store; empty: theirs by default
}

// Enabled reports whether snapshots can be run.
func (w *WorkloadConfig) Enabled() bool { return w != nil && w.Source != "" }

// Local reports whether runners are processes on the server's machine.
func (w *WorkloadConfig) Local() bool { return w != nil && w.Source == workloadSourceLocal }

// The implementation sources the original's chart values name.
const (
	workloadSourceKubernetes = "zenml_cloud_plugins.kubernetes_workload_manager.KubernetesWorkloadManager"
	workloadSourceGCP        = "zenml_cloud_plugins.gcp_kubernetes_workload_manager.GCPKubernetesWorkloadManager"
	// Enclave's own: runners as processes of the server's machine.
	workloadSourceLocal = "local"
)

const wmPrefix = "ZENML_KUBERNETES_WORKLOAD_MANAGER_"

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// quantity is Kubernetes' resource quantity: a decimal with an optional
	// binary (Ki..Ei), decimal (n..E) or exponent suffix.
	quantity = regexp.MustCompile(`^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$`)
)

// loadWorkload reads the workload manager's settings into c.Workload (left
// nil when it is off) and returns every problem found, each naming its
// variable. It runs inside LoadConfig, after c.ServerURL is set. Config
// holds a pointer so that it stays comparable.
func (c *Config) loadWorkload(getenv func(string) string) []string {
	w := WorkloadConfig{Source: strings.TrimSpace(getenv("ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE")), MaxConcurrent: 2}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	// The concurrency limit is read even when the manager is off, so that a
	// typo there is caught before the manager is switched on.
	if s := getenv("ZENML_SERVER_MAX_CONCURRENT_TEMPLATE_RUNS"); s != "" {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 1000 {
			bad("ZENML_SERVER_MAX_CONCURRENT_TEMPLATE_RUNS must be a whole number from 1 to 1000, not %q", s)
		}
		w.MaxConcurrent = n
	}
	switch w.Source {
	case "":
		return problems
	case workloadSourceLocal:
		return append(problems, c.loadLocalWorkload(&w, getenv)...)
	case workloadSourceKubernetes, "kubernetes":
	case workloadSourceGCP:
		bad("ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE: the GCP workload manager is not supported (it builds runner images, which needs a builder and a registry): use %s or kubernetes, with the runner image from the bundle", workloadSourceKubernetes)
	default:
		bad("ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE %q is not supported: use %s (or kubernetes), or local for processes on this machine", w.Source, workloadSourceKubernetes)
	}
	env := func(name string) string { return strings.TrimSpace(getenv(wmPrefix + name)) }

	if b := strings.ToLower(env("BUILD_RUNNER_IMAGE")); b != "" && b != "false" && b != "0" && b != "no" {
		bad("%sBUILD_RUNNER_IMAGE=%s is not supported: building images needs a builder; set it to false and give %sRUNNER_IMAGE (default: Enclave's own image)", wmPrefix, b, wmPrefix)
	}
	w.Namespace, w.ServiceAccount = env("NAMESPACE"), env("SERVICE_ACCOUNT")
	if w.Namespace != "" && !dnsLabel.MatchString(w.Namespace) {
		bad("%sNAMESPACE %q is not a Kubernetes namespace name", wmPrefix, w.Namespace)
	}
	if w.ServiceAccount != "" && (len(w.ServiceAccount) > 253 || !dnsSubdomain.MatchString(w.ServiceAccount)) {
		bad("%sSERVICE_ACCOUNT %q is not a Kubernetes service account name", wmPrefix, w.ServiceAccount)
	}
	w.RunnerImage = env("RUNNER_IMAGE")
	if w.RunnerImage == "" {
		w.RunnerImage = strings.TrimSpace(getenv("ENCLAVE_IMAGE"))
	}
	if w.RunnerImage == "" {
		bad("%sRUNNER_IMAGE is required (or ENCLAVE_IMAGE, which the chart sets to the server's own image)", wmPrefix)
	} else if strings.ContainsAny(w.RunnerImage, " \t\n") {
		bad("%sRUNNER_IMAGE %q is not an image reference", wmPrefix, w.RunnerImage)
	}
	problems = append(problems, c.loadRunnerURL(&w, getenv)...)
	w.Kubeconfig = strings.TrimSpace(getenv("KUBECONFIG"))

	if s := env("POD_RESOURCES"); s != "" {
		r, err := parseResources(s)
		if err != nil {
			bad("%sPOD_RESOURCES: %v", wmPrefix, err)
		}
		w.Resources = r
	}
	if s := env("NODE_SELECTOR"); s != "" {
		if err := strictJSON(s, &w.NodeSelector); err != nil {
			bad(`%sNODE_SELECTOR must be a JSON object of strings like {"node-pool": "compute"}: %v`, wmPrefix, err)
		}
	}
	if s := env("TOLERATIONS"); s != "" {
		if err := parseTolerations(s, &w.Tolerations); err != nil {
			bad(`%sTOLERATIONS must be a JSON list like [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]: %v`, wmPrefix, err)
		}
	}
	int32Var := func(name string) (int32, bool) {
		s := env(name)
		if s == "" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 0 {
			bad("%s%s must be a whole number ≥ 0, not %q", wmPrefix, name, s)
		}
		return int32(n), true
	}
	if n, ok := int32Var("TTL_SECONDS_AFTER_FINISHED"); ok {
		w.TTLSeconds = &n
	}
	// A retried runner would find its run started and refuse to run it
	// again: retries buy nothing unless asked for.
	w.BackoffLimit, _ = int32Var("JOB_BACKOFF_LIMIT")
	c.Workload = &w
	return problems
}

// loadRunnerURL reads where runners reach the server.
func (c *Config) loadRunnerURL(w *WorkloadConfig, getenv func(string) string) []string {
	w.ServerURL = strings.TrimRight(strings.TrimSpace(getenv("ENCLAVE_WORKLOAD_SERVER_URL")), "/")
	name := "ENCLAVE_WORKLOAD_SERVER_URL"
	if w.ServerURL == "" {
		w.ServerURL, name = c.ServerURL, "ZENML_SERVER_URL"
	}
	if !isHTTPURL(w.ServerURL) {
		return []string{fmt.Sprintf("the workload manager's runners reach the server at ZENML_SERVER_URL (or ENCLAVE_WORKLOAD_SERVER_URL): %s must be an http(s) URL, not %q", name, w.ServerURL)}
	}
	return nil
}

// loadLocalWorkload reads the settings of runners run as processes of the
// server's machine: the binary, where they keep artifacts, and how they
// reach the server. The Kubernetes settings do not apply.
func (c *Config) loadLocalWorkload(w *WorkloadConfig, getenv func(string) string) []string {
	problems := c.loadRunnerURL(w, getenv)
	w.LocalRunner = strings.TrimSpace(getenv("ENCLAVE_LOCAL_RUNNER"))
	if w.LocalRunner != "" && !filepath.IsAbs(w.LocalRunner) {
		problems = append(problems, fmt.Sprintf("ENCLAVE_LOCAL_RUNNER must be the absolute path of an enclave binary, not %q", w.LocalRunner))
	}
	w.ArtifactStore = strings.TrimSpace(getenv("ENCLAVE_ARTIFACT_STORE"))
	if w.ArtifactStore != "" && !filepath.IsAbs(w.ArtifactStore) {
		problems = append(problems, fmt.Sprintf("ENCLAVE_ARTIFACT_STORE must be an absolute path, not %q", w.ArtifactStore))
	}
	c.Workload = w
	return problems
}

// strictJSON decodes s into v, refusing unknown fields and trailing data.
func strictJSON(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// parseResources reads {"requests": {...}, "limits": {...}}, quantities as
// strings ("100m", "400Mi") or numbers.
func parseResources(s string) (*kubejob.Resources, error) {
	var raw map[string]map[string]json.RawMessage
	if err := strictJSON(s, &raw); err != nil {
		return nil, fmt.Errorf(`must be a JSON object like {"requests": {"cpu": "100m"}, "limits": {"memory": "700Mi"}}: %v`, err)
	}
	r := &kubejob.Resources{}
	for part, m := range raw {
		dst := map[string]string{}
		switch part {
		case "requests":
			r.Requests = dst
		case "limits":
			r.Limits = dst
		default:
			return nil, fmt.Errorf("%q is not requests or limits", part)
		}
		for res, v := range m {
			q := string(bytes.Trim(v, `"`))
			if !dnsSubdomain.MatchString(strings.ReplaceAll(res, "/", ".")) || !quantity.MatchString(q) {
				return nil, fmt.Errorf("%s.%s: %s is not a resource quantity like 100m, 1.5 or 400Mi", part, res, v)
			}
			dst[res] = q
		}
	}
	return r, nil
}

func parseTolerations(s string, dst *[]kubejob.Toleration) error {
	if err := strictJSON(s, dst); err != nil {
		return err
	}
	for i, t := range *dst {
		switch {
		case t.Operator != "" && t.Operator != "Exists" && t.Operator != "Equal":
			return fmt.Errorf("toleration %d: operator %q is not Exists or Equal", i+1, t.Operator)
		case t.Effect != "" && t.Effect != "NoSchedule" && t.Effect != "PreferNoSchedule" && t.Effect != "NoExecute":
			return fmt.Errorf("toleration %d: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", i+1, t.Effect)
		case t.Operator == "Exists" && t.Value != "":
			return fmt.Errorf("toleration %d: operator Exists takes no value", i+1)
		}
	}
	return nil
}
