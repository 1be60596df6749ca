package workspace

import (
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
)

// seedWorkloadEnv is the workload manager as the air-gap guide's values set
// it, plus what the chart adds.
func seedWorkloadEnv() map[string]string {
	return map[string]string{
		"ZENML_STORE_URL":  "sqlite:////tmp/x.db",
		"ZENML_SERVER_URL": "https://zenml.example.com",
		"ENCLAVE_IMAGE":    "registry.local/enclave-mlops/enclave:1.0.0",
		"ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE":          workloadSourceKubernetes,
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_NAMESPACE":                  "zenml-workload-manager",
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_SERVICE_ACCOUNT":            "zenml-runner",
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_BUILD_RUNNER_IMAGE":         "false",
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_POD_RESOURCES":              `{"requests": {"cpu": "100m", "memory": "400Mi"}, "limits": {"memory": "700Mi", "cpu": 2}}`,
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_TTL_SECONDS_AFTER_FINISHED": "86400",
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_NODE_SELECTOR":              `{"node-pool": "compute"}`,
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_TOLERATIONS":                `[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]`,
		"ZENML_SERVER_MAX_CONCURRENT_TEMPLATE_RUNS":                    "2",
	}
}

func TestWorkloadConfigOfTheGuide(t *testing.T) {
	cfg, err := LoadConfig(envOf(seedWorkloadEnv()))
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Workload
	switch {
	case !w.Enabled() || w.Namespace != "zenml-workload-manager" || w.ServiceAccount != "zenml-runner":
		t.Errorf("workload %+v", w)
	case w.RunnerImage != "registry.local/enclave-mlops/enclave:1.0.0" || w.ServerURL != "https://zenml.example.com":
		t.Errorf("image %q, server %q", w.RunnerImage, w.ServerURL)
	case w.Resources.Requests["cpu"] != "100m" || w.Resources.Limits["memory"] != "700Mi" || w.Resources.Limits["cpu"] != "2":
		t.Errorf("resources %+v", w.Resources)
	case w.NodeSelector["node-pool"] != "compute" || len(w.Tolerations) != 1 || w.Tolerations[0].Operator != "Exists":
		t.Errorf("placement %+v %+v", w.NodeSelector, w.Tolerations)
	case w.TTLSeconds == nil || *w.TTLSeconds != 86400 || w.BackoffLimit != 0 || w.MaxConcurrent != 2:
		t.Errorf("ttl %v backoff %d max %d", w.TTLSeconds, w.BackoffLimit, w.MaxConcurrent)
	}

	// The short name, a runner image of its own and a server URL for pods.
	env := seedWorkloadEnv()
	env["ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE"] = "kubernetes"
	env["ZENML_KUBERNETES_WORKLOAD_MANAGER_RUNNER_IMAGE"] = "registry.local/runner:2"
	env["ENCLAVE_WORKLOAD_SERVER_URL"] = "http://zenml.zenml.svc:8080/"
	if cfg, err = LoadConfig(envOf(env)); err != nil {
		t.Fatal(err)
	}
	if cfg.Workload.RunnerImage != "registry.local/runner:2" || cfg.Workload.ServerURL != "http://zenml.zenml.svc:8080" {
		t.Errorf("workload %+v", cfg.Workload)
	}

	// Off: no workload settings at all.
	if cfg, err = LoadConfig(envOf(map[string]string{"ZENML_STORE_URL": "sqlite:////tmp/x.db"})); err != nil || cfg.Workload.Enabled() {
		t.Fatalf("off: %+v %v", cfg.Workload, err)
	}
}

// With the source "local", the Kubernetes settings do not apply (the
// guide's are ignored), and runners reach the server at its URL.
func TestWorkloadConfigLocal(t *testing.T) {
	env := seedWorkloadEnv()
	env["ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE"] = "local"
	env["ENCLAVE_IMAGE"] = ""
	env["ENCLAVE_LOCAL_RUNNER"] = "/usr/local/bin/enclave"
	env["ENCLAVE_ARTIFACT_STORE"] = "/var/lib/enclave/artifacts"
	cfg, err := LoadConfig(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Workload
	if !w.Enabled() || !w.Local() || w.LocalRunner != "/usr/local/bin/enclave" || w.ArtifactStore != "/var/lib/enclave/artifacts" ||
		w.ServerURL != "https://zenml.example.com" || w.MaxConcurrent != 2 || w.Namespace != "" || w.Resources != nil {
		t.Errorf("workload %+v", w)
	}
}

func TestWorkloadConfigProblemsNameTheirVariable(t *testing.T) {
	for name, tc := range map[string]struct {
		set  map[string]string
		want string
	}{
		"GCP":              {map[string]string{"ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE": workloadSourceGCP}, "GCP workload manager is not supported"},
		"unknown source":   {map[string]string{"ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE": "my.Manager"}, `"my.Manager" is not supported`},
		"build image":      {map[string]string{"ZENML_KUBERNETES_WORKLOAD_MANAGER_BUILD_RUNNER_IMAGE": "true"}, "BUILD_RUNNER_IMAGE=true is not supported"},
		"resources JSON":   {map[string]string{"ZENML_KUBERNETES_WORKLOAD_MANAGER_POD_RESOURCES": `{"requests": {"cpu": "100m"}`}, "ZENML_KUBERNETES_WORKLOAD_MANAGER_POD_RESOURCES: must be a JSON object"},
		"resources field":  {map[string]string{"ZENML_KUBERNETES_WORKLOAD_MANAGER_POD_RESOURCES": `{"request": {"cpu": "1"}}`}, `"request" is not requests or limits`},
		"quantity":         {map[string]string{"ZENML_KUBERNETES_WORKLOAD_MANAGER_POD_RESOURCES": `{"limits": {"memory": "lots"}}`}, "limits.memory"},
		"selector JSON":    {map[string]string{"ZENML_KUBERNETES_WORKLOAD_MANAGER_NODE_SELECTOR": `node-pool=compute`}, "ZENML_KUBERNETES_WORKLOAD_MANAGER_NODE_SELECTOR must be a JSON object"},
		"selector numbers": {map[string]string{"ZENML_KUBERNETES_WORKLOAD_MANAGER_NODE_SELECTOR": `{"zone": 3}`}, "NODE_SELECTOR must be"},
		"tolerations JSON": {map[string]string{"ZENML_KUBERNETES_WORKLOAD_MANAGER_TOLERATIONS": `{"key": "gpu"}`}, "ZENML_KUBERNETES_WORKLOAD_MANAGER_TOLERATIONS must be a JSON list"},
		"toleration field": {map[string]string{"ZENML_KUBERNETES_WORKLOAD_MANAGER_TOLERATIONS": `[{"kye": "gpu"}]`}, `unknown field "kye"`},
		"toleration op":    {map[string]string{"ZENML_KUBERNETES_WORKLOAD_MANAGER_TOLERATIONS": `[{"key": "gpu", "operator": "In"}]`}, `operator "In"`},
		"ttl":              {map[string]string{"ZENML_KUBERNETES_WORKLOAD_MANAGER_TTL_SECONDS_AFTER_FINISHED": "1d"}, "TTL_SECONDS_AFTER_FINISHED must be a whole number"},
		"backoff":          {map[string]string{"ZENML_KUBERNETES_WORKLOAD_MANAGER_JOB_BACKOFF_LIMIT": "-1"}, "JOB_BACKOFF_LIMIT must be a whole number"},
		"max runs":         {map[string]string{"ZENML_SERVER_MAX_CONCURRENT_TEMPLATE_RUNS": "0"}, "ZENML_SERVER_MAX_CONCURRENT_TEMPLATE_RUNS must be"},
		"namespace":        {map[string]string{"ZENML_KUBERNETES_WORKLOAD_MANAGER_NAMESPACE": "Zenml_WM"}, "NAMESPACE \"Zenml_WM\""},
		"service account":  {map[string]string{"ZENML_KUBERNETES_WORKLOAD_MANAGER_SERVICE_ACCOUNT": "Runner!"}, "SERVICE_ACCOUNT \"Runner!\""},
		"no image":         {map[string]string{"ENCLAVE_IMAGE": ""}, "RUNNER_IMAGE is required"},
		"no server URL":    {map[string]string{"ZENML_SERVER_URL": ""}, "ZENML_SERVER_URL must be an http(s) URL"},
		"bad runner URL":   {map[string]string{"ENCLAVE_WORKLOAD_SERVER_URL": "zenml:8080"}, "ENCLAVE_WORKLOAD_SERVER_URL must be"},
		"local, relative runner": {map[string]string{"ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE": "local", "ENCLAVE_LOCAL_RUNNER": "bin/enclave"},
			`ENCLAVE_LOCAL_RUNNER must be the absolute path of an enclave binary, not "bin/enclave"`},
		"local, relative store": {map[string]string{"ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE": "local", "ENCLAVE_ARTIFACT_STORE": "artifacts"},
			`ENCLAVE_ARTIFACT_STORE must be an absolute path`},
		"local, no server URL": {map[string]string{"ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE": "local", "ZENML_SERVER_URL": ""}, "ZENML_SERVER_URL must be an http(s) URL"},
	} {
		env := seedWorkloadEnv()
		for k, v := range tc.set {
			env[k] = v
		}
		_, err := LoadConfig(envOf(env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// A bad limit is caught even while the manager is off.
	_, err := LoadConfig(envOf(map[string]string{"ZENML_STORE_URL": "sqlite:////tmp/x.db", "ZENML_SERVER_MAX_CONCURRENT_TEMPLATE_RUNS": "many"}))
	if err == nil || !strings.Contains(err.Error(), "ZENML_SERVER_MAX_CONCURRENT_TEMPLATE_RUNS") {
		t.Errorf("limit while off: %v", err)
	}
}

func TestRunNameFillsTheTemplate(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 890123000, time.UTC)
	sn := client.Snapshot{Metadata: &client.SnapshotMetadata{RunNameTemplate: "train-{date}-{time}"}}
	if got := runName(sn, now); got != "train-2025_03_04-05_06_07_890123" {
		t.Errorf("runName %q", got)
	}
	if got := runName(client.Snapshot{}, now); got != "snapshot-run-2025_03_04-05_06_07_890123" {
		t.Errorf("runName without a template %q", got)
	}
}
