package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/cli"
	"github.com/enclave-mlops/enclave/internal/kubejob"
	"github.com/enclave-mlops/enclave/internal/kubetest"
	"github.com/enclave-mlops/enclave/internal/runner"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
	"github.com/enclave-mlops/enclave/internal/uptest"
	"github.com/enclave-mlops/enclave/internal/workspace"
)

const (
	workloadNamespace = "zenml-workload-manager"
	workloadImage     = "registry.local/enclave-mlops/enclave:0.0.0-test"
	workloadPassword  = "workload-admin-password"
)

// workloadPipeline is recorded once by the runner; its snapshot is then run
// again through the workload manager.
const workloadPipeline = `name: wl-train
steps:
  - name: load
    command: printf '1,2,3' > "$ENCLAVE_OUTPUT_DATA"
    outputs: [data]
  - name: train
    inputs: {data: load.data}
    command: echo "training on $(cat "$ENCLAVE_INPUT_DATA")"; printf model > "$ENCLAVE_OUTPUT_MODEL"
    outputs: [model]
`

// workloadServer is a standalone workspace server on loopback, its admin
// logged in.
type workloadServer struct {
	url string
	ws  *client.Workspace
}

func workloadStart(t *testing.T, env map[string]string) *workloadServer {
	t.Helper()
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	all := map[string]string{
		"ZENML_STORE_URL":             sqldbtest.URL(t, "sqlite"),
		"ZENML_SERVER_URL":            url,
		"ZENML_DEFAULT_USER_PASSWORD": workloadPassword,
		"ZENML_SERVER_JWT_SECRET_KEY": strings.Repeat("w", 40),
		"ENCLAVE_DATA_DIR":            t.TempDir(),
	}
	for k, v := range env {
		all[k] = v
	}
	cfg, err := workspace.LoadConfig(func(k string) string { return all[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := workspace.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	s := &workloadServer{url: url, ws: client.NewWorkspace(url, "", nil)}
	if _, err := s.ws.LoginPassword(ctx, "default", workloadPassword); err != nil {
		t.Fatal(err)
	}
	return s
}

// workloadEnv configures the workload manager as the guide's values do.
func workloadEnv(kubeconfig, nodeSelector, maxRuns string) map[string]string {
	return map[string]string{
		"KUBECONFIG":    kubeconfig,
		"ENCLAVE_IMAGE": workloadImage,
		"ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE":          "zenml_cloud_plugins.kubernetes_workload_manager.KubernetesWorkloadManager",
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_NAMESPACE":                  workloadNamespace,
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_SERVICE_ACCOUNT":            "zenml-runner",
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_BUILD_RUNNER_IMAGE":         "false",
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_POD_RESOURCES":              `{"requests": {"cpu": "100m", "memory": "400Mi"}, "limits": {"memory": "700Mi"}}`,
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_TTL_SECONDS_AFTER_FINISHED": "86400",
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_NODE_SELECTOR":              nodeSelector,
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_TOLERATIONS":                `[{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]`,
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_JOB_BACKOFF_LIMIT":          "1",
		"ZENML_SERVER_MAX_CONCURRENT_TEMPLATE_RUNS":                    maxRuns,
		// Long enough for a runner to report its run's end after its last
		// step, short enough to see an ended run's token refused.
		"ENCLAVE_RUN_TOKEN_GRACE": "5s",
	}
}

// workloadSnapshot records workloadPipeline with the runner and returns
// the id of the snapshot it wrote.
func workloadSnapshot(t *testing.T, s *workloadServer) string {
	t.Helper()
	spec, err := runner.Parse([]byte(workloadPipeline))
	if err != nil {
		t.Fatal(err)
	}
	r := &runner.Runner{WS: s.ws, ArtifactDir: t.TempDir()}
	res, err := r.Run(context.Background(), spec)
	if err != nil || res.Status != client.StatusCompleted {
		t.Fatalf("record the pipeline: %+v %v", res, err)
	}
	run, err := s.ws.GetRun(context.Background(), res.RunID, false)
	if err != nil {
		t.Fatal(err)
	}
	return run.Body.SnapshotID
}

// workloadRun posts a snapshot run with token and returns the run or the
// server's error.
func workloadRun(s *workloadServer, token, snapshotID string) (client.Run, error) {
	return client.NewWorkspace(s.url, token, nil).RunSnapshot(context.Background(), snapshotID, client.SnapshotRunRequest{})
}

func workloadEventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func workloadJob(t *testing.T, c *kubetest.Cluster, runID string) kubejob.Job {
	t.Helper()
	var j kubejob.Job
	out := c.Kubectl(t, "-n", workloadNamespace, "get", "job", kubejob.JobName(runID), "-o", "json")
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatal(err)
	}
	return j
}

// workloadJobEnv is the environment the Job's container gets, the Secret's
// keys resolved as the kubelet would.
func workloadJobEnv(t *testing.T, c *kubetest.Cluster, j kubejob.Job) map[string]string {
	t.Helper()
	var sec kubejob.Secret
	out := c.Kubectl(t, "-n", workloadNamespace, "get", "secret", j.Metadata.Name, "-o", "json")
	if err := json.Unmarshal([]byte(out), &sec); err != nil {
		t.Fatal(err)
	}
	if own := sec.Metadata.OwnerReferences; len(own) != 1 || own[0].Kind != "Job" || own[0].UID != j.Metadata.UID {
		t.Errorf("the Secret is not owned by its Job: %+v", own)
	}
	env := map[string]string{}
	for _, e := range j.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom != nil {
			ref := e.ValueFrom.SecretKeyRef
			if ref == nil || ref.Name != sec.Metadata.Name {
				t.Fatalf("env %s comes from %+v", e.Name, e.ValueFrom)
			}
			env[e.Name] = string(sec.Data[ref.Key])
			continue
		}
		env[e.Name] = e.Value
	}
	return env
}

func TestWorkloadManagerRunsSnapshotsAsJobs(t *testing.T) {
	cluster := kubetest.Start(t)
	ctx := context.Background()
	cluster.Kubectl(t, "create", "namespace", workloadNamespace)
	cluster.Kubectl(t, "-n", workloadNamespace, "create", "serviceaccount", "zenml-runner")

	// Off: the route answers that it is not configured.
	off := workloadStart(t, nil)
	offSnap := workloadSnapshot(t, off)
	if _, err := workloadRun(off, off.ws.Token(), offSnap); client.StatusOf(err) != http.StatusNotFound || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("without a workload manager: %v", err)
	}

	// A server whose Jobs land on the kwok node, which completes them. It
	// holds only the rights the workload manager needs.
	srv := workloadStart(t, workloadEnv(workloadLeastKubeconfig(t, cluster), `{"type": "kwok"}`, "2"))
	snap := workloadSnapshot(t, srv)
	run, err := workloadRun(srv, srv.ws.Token(), snap)
	if err != nil {
		t.Fatal(err)
	}
	if run.Body.Status != client.StatusInitializing || run.Body.SnapshotID != snap {
		t.Fatalf("placeholder run %+v", run.Body)
	}
	j := workloadJob(t, cluster, run.ID)
	ps := j.Spec.Template.Spec
	c := ps.Containers[0]
	switch {
	case c.Image != workloadImage || strings.Join(c.Args, " ") != "pipeline run-snapshot" || len(c.Command) != 0:
		t.Errorf("container %s %v %v", c.Image, c.Command, c.Args)
	case ps.ServiceAccountName != "zenml-runner" || ps.RestartPolicy != "Never":
		t.Errorf("pod %+v", ps)
	case c.Resources.Requests["cpu"] != "100m" || c.Resources.Requests["memory"] != "400Mi" || c.Resources.Limits["memory"] != "700Mi":
		t.Errorf("resources %+v", c.Resources)
	case ps.NodeSelector["type"] != "kwok" || len(ps.Tolerations) != 1 || ps.Tolerations[0].Value != "ml":
		t.Errorf("placement %+v %+v", ps.NodeSelector, ps.Tolerations)
	case *j.Spec.TTLSecondsAfterFinished != 86400 || *j.Spec.BackoffLimit != 1:
		t.Errorf("ttl %d backoff %d", *j.Spec.TTLSecondsAfterFinished, *j.Spec.BackoffLimit)
	case *ps.SecurityContext.RunAsUser != 1000 || !*c.SecurityContext.ReadOnlyRootFilesystem || c.VolumeMounts[0].MountPath != "/tmp":
		t.Errorf("security %+v %+v", ps.SecurityContext, c.SecurityContext)
	case j.Metadata.Labels["enclave-mlops/run-id"] != run.ID || j.Metadata.Labels["enclave-mlops/snapshot-id"] != snap || j.Metadata.Labels["enclave-mlops/workspace-id"] == "":
		t.Errorf("labels %v", j.Metadata.Labels)
	}
	sn, err := srv.ws.GetSnapshot(ctx, snap, true)
	if err != nil {
		t.Fatal(err)
	}
	env := workloadJobEnv(t, cluster, j)
	for k, want := range map[string]string{"ZENML_STORE_URL": srv.url, "ZENML_STORE_TYPE": "rest", "ZENML_ACTIVE_PROJECT_ID": run.Body.ProjectID,
		"ZENML_ACTIVE_STACK_ID": sn.Metadata.StackID, "ENCLAVE_SNAPSHOT_ID": snap, "ENCLAVE_RUN_ID": run.ID} {
		if env[k] != want || want == "" {
			t.Errorf("env %s = %q, want %q", k, env[k], want)
		}
	}
	if strings.Contains(workloadJobJSON(t, cluster, run.ID), env["ZENML_STORE_API_TOKEN"]) {
		t.Error("the token is in the Job's plain spec")
	}
	// The token reads, writes only its run, and dies with the run.
	runWS := client.NewWorkspace(srv.url, env["ZENML_STORE_API_TOKEN"], nil)
	if _, err := runWS.GetRun(ctx, run.ID, false); err != nil {
		t.Fatalf("the run token cannot read its run: %v", err)
	}
	if _, err := runWS.CreateProject(ctx, client.ProjectRequest{Name: "not-mine"}); client.StatusOf(err) != http.StatusForbidden {
		t.Errorf("the run token created a project: %v", err)
	}
	// A run token starts no runs of its own.
	if _, err := workloadRun(srv, runWS.Token(), snap); client.StatusOf(err) != http.StatusForbidden {
		t.Errorf("the run token started a run: %v", err)
	}

	// kwok completes the Job without running the runner: the watcher sees the
	// Job end with the run still waiting, and fails it, saying why.
	workloadEventually(t, "the Job completes", func() bool {
		j := workloadJob(t, cluster, run.ID)
		done, failed, _ := j.Finished()
		return done && !failed
	})
	workloadEventually(t, "the watcher fails the run the runner never reported", func() bool {
		r, err := srv.ws.GetRun(ctx, run.ID, false)
		return err == nil && r.Body.Status == client.StatusFailed
	})
	if logs, _ := srv.ws.RunLogs(ctx, run.ID); !strings.Contains(logs, "created Job "+workloadNamespace+"/"+kubejob.JobName(run.ID)) ||
		!strings.Contains(logs, "ended without ending the run") {
		t.Errorf("run log:\n%s", logs)
	}
	workloadEventually(t, "the token of the ended run is refused after the grace", func() bool {
		_, err := runWS.GetRun(ctx, run.ID, false)
		return client.StatusOf(err) == http.StatusUnauthorized
	})

	// Not runnable: a snapshot whose steps carry no command. Nothing is made.
	nonRunnable, err := srv.ws.CreateSnapshot(ctx, client.SnapshotRequest{Project: sn.Body.ProjectID, Pipeline: sn.Metadata.PipelineID,
		Stack: sn.Metadata.StackID, RunNameTemplate: "py-{date}", PipelineConfiguration: json.RawMessage(`{"name": "py"}`),
		StepConfigurations: map[string]json.RawMessage{"trainer": json.RawMessage(`{"config": {"name": "trainer"}}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workloadRun(srv, srv.ws.Token(), nonRunnable.ID); client.StatusOf(err) != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), "step trainer has no command") {
		t.Errorf("non-runnable snapshot: %v", err)
	}
	runs, err := srv.ws.ListRuns(ctx, &client.ListOptions{Filters: map[string]string{"snapshot_id": nonRunnable.ID}})
	if err != nil || runs.Total != 0 {
		t.Errorf("runs of the non-runnable snapshot: %+v %v", runs.Items, err)
	}
	if _, err := workloadRun(srv, srv.ws.Token(), "00000000-0000-4000-8000-000000000000"); client.StatusOf(err) != http.StatusNotFound {
		t.Errorf("missing snapshot: %v", err)
	}

	t.Run("again from the dashboard", func(t *testing.T) { workloadFromDashboard(t, cluster) })
	t.Run("concurrency", func(t *testing.T) { workloadConcurrency(t, cluster) })
	t.Run("job creation fails", func(t *testing.T) { workloadCreationFails(t, cluster) })
}

// workloadLeastKubeconfig gives a service account of the workload namespace
// exactly the rights the workload manager uses — the chart's Role plus
// creating Secrets — and returns a kubeconfig with a token of it.
func workloadLeastKubeconfig(t *testing.T, c *kubetest.Cluster) string {
	t.Helper()
	ns := []string{"-n", workloadNamespace}
	c.Kubectl(t, append(ns, "create", "serviceaccount", "enclave-server")...)
	for name, rule := range map[string][]string{
		"wm-jobs":    {"--verb=create,get,list,delete", "--resource=jobs.batch"},
		"wm-pods":    {"--verb=list", "--resource=pods"},
		"wm-logs":    {"--verb=get", "--resource=pods/log"},
		"wm-secrets": {"--verb=create", "--resource=secrets"},
	} {
		c.Kubectl(t, append(append(ns, "create", "role", name), rule...)...)
		c.Kubectl(t, append(ns, "create", "rolebinding", name, "--role="+name, "--serviceaccount="+workloadNamespace+":enclave-server")...)
	}
	token := strings.TrimSpace(c.Kubectl(t, append(ns, "create", "token", "enclave-server", "--duration=1h")...))
	ca := strings.TrimSpace(c.Kubectl(t, "config", "view", "--raw", "-o", "jsonpath={.clusters[0].cluster.certificate-authority}"))
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := "clusters: [{name: k, cluster: {server: " + c.Server + ", certificate-authority: " + ca + "}}]\n" +
		"users: [{name: u, user: {token: " + token + "}}]\n" +
		"contexts: [{name: k, context: {cluster: k, user: u, namespace: " + workloadNamespace + "}}]\ncurrent-context: k\n"
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	// The account may not do more than that.
	if out, err := c.RunKubectl("--kubeconfig="+path, "get", "secrets"); err == nil {
		t.Fatalf("the least-privileged account lists secrets: %s", out)
	}
	return path
}

func workloadJobJSON(t *testing.T, c *kubetest.Cluster, runID string) string {
	return c.Kubectl(t, "-n", workloadNamespace, "get", "job", kubejob.JobName(runID), "-o", "json")
}

// workloadConcurrency fills a server's two slots with Jobs that no node
// takes, so they stay in flight; a third run is refused until one ends. The
// runner is then run in this process with a pending Job's environment.
func workloadConcurrency(t *testing.T, cluster *kubetest.Cluster) {
	ctx := context.Background()
	srv := workloadStart(t, workloadEnv(cluster.Kubeconfig, `{"type": "no-such-node"}`, "2"))
	snap := workloadSnapshot(t, srv)
	first, err := workloadRun(srv, srv.ws.Token(), snap)
	if err != nil {
		t.Fatal(err)
	}
	second, err := workloadRun(srv, srv.ws.Token(), snap)
	if err != nil {
		t.Fatal(err)
	}
	if first.Name == second.Name {
		t.Errorf("two runs named %s", first.Name)
	}
	_, err = workloadRun(srv, srv.ws.Token(), snap)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusTooManyRequests || ce.Class != "TooManyRequestsError" {
		t.Fatalf("third run in flight: %v", err)
	}
	// Its pod exists and no node takes it.
	workloadEventually(t, "the first run's pod is created, and Pending", func() bool {
		return cluster.Kubectl(t, "-n", workloadNamespace, "get", "pods", "-l", "job-name="+kubejob.JobName(first.ID),
			"-o", "jsonpath={.items[*].status.phase}") == "Pending"
	})

	// Deleting a Job ends it: its run fails and its slot is free again.
	cluster.Kubectl(t, "-n", workloadNamespace, "delete", "job", kubejob.JobName(first.ID), "--wait=true")
	workloadEventually(t, "the deleted Job's run fails", func() bool {
		r, err := srv.ws.GetRun(ctx, first.ID, false)
		return err == nil && r.Body.Status == client.StatusFailed
	})
	third, err := workloadRun(srv, srv.ws.Token(), snap)
	if err != nil {
		t.Fatalf("a run after a slot was freed: %v", err)
	}

	// The runner, in this process, with the environment of the third Job.
	env := workloadJobEnv(t, cluster, workloadJob(t, cluster, third.ID))
	for k, v := range env {
		t.Setenv(k, v)
	}
	t.Setenv("ENCLAVE_ARTIFACT_STORE", t.TempDir())
	// A foreign run is not this token's to write.
	runWS := client.NewWorkspace(srv.url, env["ZENML_STORE_API_TOKEN"], nil)
	st := client.StatusRunning
	if _, err := runWS.UpdateRun(ctx, second.ID, client.RunUpdate{Status: &st}); client.StatusOf(err) != http.StatusForbidden {
		t.Errorf("the token of run %s updated run %s: %v", third.ID, second.ID, err)
	}
	if code := cli.Main([]string{"pipeline", "run-snapshot"}); code != 0 {
		t.Fatalf("enclave pipeline run-snapshot exited %d", code)
	}
	got, err := srv.ws.GetRun(ctx, third.ID, false)
	if err != nil || got.Body.Status != client.StatusCompleted {
		t.Fatalf("run after the runner: %+v %v", got.Body, err)
	}
	steps, err := srv.ws.ListRunSteps(ctx, third.ID, nil)
	if err != nil || steps.Total != 2 {
		t.Fatalf("steps %+v %v", steps, err)
	}
	for _, s := range steps.Items {
		if s.Body.Status != client.StatusCompleted {
			t.Errorf("step %s is %s", s.Name, s.Body.Status)
		}
		if s.Name == "train" {
			if logs, _ := srv.ws.StepLogs(ctx, s.ID); !strings.Contains(logs, "training on 1,2,3") {
				t.Errorf("train's log: %q", logs)
			}
		}
	}
	avs, err := srv.ws.ListArtifactVersions(ctx, &client.ListOptions{Filters: map[string]string{"producer_pipeline_run_id": third.ID}})
	if err != nil || avs.Total != 2 {
		t.Fatalf("artifact versions of the run: %+v %v", avs, err)
	}
	for _, av := range avs.Items {
		if _, err := os.Stat(strings.TrimPrefix(av.Body.URI, "file://")); err != nil {
			t.Errorf("artifact %s: %v", av.Body.URI, err)
		}
	}
	if logs, _ := srv.ws.RunLogs(ctx, third.ID); !strings.Contains(logs, "runner started: 2 steps") || !strings.Contains(logs, "runner finished: completed") {
		t.Errorf("run log:\n%s", logs)
	}
	workloadEventually(t, "the token is refused once its run completed and the grace passed", func() bool {
		_, err := runWS.GetRun(ctx, third.ID, false)
		return client.StatusOf(err) == http.StatusUnauthorized
	})
	// A second runner (a retried pod) does not run the steps again.
	if code := cli.Main([]string{"pipeline", "run-snapshot"}); code == 0 {
		t.Error("a second runner of the same run succeeded")
	}

	// Stopping the second run, still pending: it is stopped at once, its Job
	// is deleted, and its slot is free; the Job's end does not fail it.
	if err := srv.ws.StopRun(ctx, second.ID, false); err != nil {
		t.Fatal(err)
	}
	if r, err := srv.ws.GetRun(ctx, second.ID, false); err != nil || r.Body.Status != client.StatusStopped {
		t.Fatalf("stopped run: %+v %v", r.Body, err)
	}
	workloadEventually(t, "the stopped run's Job is gone", func() bool {
		_, err := cluster.RunKubectl("-n", workloadNamespace, "get", "job", kubejob.JobName(second.ID))
		return err != nil
	})
	fourth, err := workloadRun(srv, srv.ws.Token(), snap)
	if err != nil {
		t.Fatalf("a run after stopping one: %v", err)
	}
	// Gracefully: the run is stopping until its Job ends, then stopped.
	if err := srv.ws.StopRun(ctx, fourth.ID, true); err != nil {
		t.Fatal(err)
	}
	if r, _ := srv.ws.GetRun(ctx, fourth.ID, false); r.Body.Status != client.StatusStopping {
		t.Fatalf("gracefully stopped run is %s", r.Body.Status)
	}
	cluster.Kubectl(t, "-n", workloadNamespace, "delete", "job", kubejob.JobName(fourth.ID), "--wait=true")
	if err := srv.ws.RefreshRun(ctx, fourth.ID); err != nil {
		t.Fatal(err)
	}
	workloadEventually(t, "the stopping run whose Job ended is stopped", func() bool {
		r, err := srv.ws.GetRun(ctx, fourth.ID, false)
		return err == nil && r.Body.Status == client.StatusStopped
	})
	if r, _ := srv.ws.GetRun(ctx, second.ID, false); r.Body.Status != client.StatusStopped {
		t.Errorf("the stopped run became %s after its Job went", r.Body.Status)
	}
}

// workloadCreationFails points the manager at a namespace that does not
// exist: the request fails clearly, the placeholder run is failed, and the
// one slot is free for the next try.
func workloadCreationFails(t *testing.T, cluster *kubetest.Cluster) {
	ctx := context.Background()
	env := workloadEnv(cluster.Kubeconfig, `{"type": "kwok"}`, "1")
	env["ZENML_KUBERNETES_WORKLOAD_MANAGER_NAMESPACE"] = "no-such-namespace"
	srv := workloadStart(t, env)
	snap := workloadSnapshot(t, srv)
	for i := 0; i < 2; i++ {
		_, err := workloadRun(srv, srv.ws.Token(), snap)
		if client.StatusOf(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), `namespaces "no-such-namespace" not found`) {
			t.Fatalf("try %d: %v", i+1, err)
		}
	}
	runs, err := srv.ws.ListRuns(ctx, &client.ListOptions{Filters: map[string]string{"snapshot_id": snap, "status": client.StatusFailed}})
	if err != nil || runs.Total != 2 {
		t.Fatalf("failed placeholder runs: %+v %v", runs, err)
	}
	if logs, _ := srv.ws.RunLogs(ctx, runs.Items[0].ID); !strings.Contains(logs, "could not start the runner") {
		t.Errorf("run log: %q", logs)
	}
}

// workloadFromDashboard runs a recorded pipeline again from the dashboard of
// a control plane whose pro workspace has a workload manager: the button
// posts the form, the workspace starts a Job for the new run, and the
// dashboard shows that run.
func workloadFromDashboard(t *testing.T, cluster *kubetest.Cluster) {
	ctx := context.Background()
	cp := uptest.StartControlPlane(t)
	admin := cp.Admin(t)
	org, err := admin.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := admin.CreateWorkspace(ctx, org.ID, "research", true)
	if err != nil {
		t.Fatal(err)
	}
	uptest.StartWorkspace(t, cp.URL, ws, workloadEnv(cluster.Kubeconfig, `{"type": "no-such-node"}`, "2"))
	uptest.WaitReported(t, admin, ws.ID)
	rec, err := admin.GetWorkspace(ctx, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	wc := client.NewWorkspace(rec.Status.URL, "", nil)
	if _, err := wc.LoginExternal(ctx, admin.Token); err != nil {
		t.Fatal(err)
	}
	spec, err := runner.Parse([]byte(workloadPipeline))
	if err != nil {
		t.Fatal(err)
	}
	first, err := (&runner.Runner{WS: wc, ArtifactDir: t.TempDir()}).Run(ctx, spec)
	if err != nil || first.Status != client.StatusCompleted {
		t.Fatalf("record the pipeline: %+v %v", first, err)
	}

	// The dashboard, as a browser without script uses it: a session, then
	// the form with its CSRF token, from the dashboard's own origin.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	if _, err := hc.Get(cp.URL + "/login"); err != nil {
		t.Fatal(err)
	}
	csrf := func() string {
		u, _ := url.Parse(cp.URL)
		for _, c := range jar.Cookies(u) {
			if c.Name == "enclave_csrf" {
				return c.Value
			}
		}
		t.Fatal("no CSRF cookie")
		return ""
	}
	post := func(path string, form url.Values) (*http.Response, string) {
		form.Set("csrf_token", csrf())
		req, _ := http.NewRequest(http.MethodPost, cp.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", cp.URL)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := post("/login", url.Values{"username": {"admin"}, "password": {uptest.AdminPassword}}); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Log out") {
		t.Fatalf("login: %d\n%s", resp.StatusCode, body)
	}
	resp, body := post("/workspaces/"+ws.ID+"/runs/"+first.RunID+"/again", url.Values{})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Run started") {
		t.Fatalf("run again: %d\n%s", resp.StatusCode, body)
	}
	next := resp.Request.URL.Path[strings.LastIndex(resp.Request.URL.Path, "/")+1:]
	if next == first.RunID || !strings.Contains(body, next) {
		t.Fatalf("landed on %s", resp.Request.URL)
	}
	run, err := wc.GetRun(ctx, next, false)
	if err != nil || run.Body.SnapshotID == "" || run.Body.Status != client.StatusInitializing {
		t.Fatalf("the new run: %+v %v", run.Body, err)
	}
	if j := workloadJob(t, cluster, next); j.Metadata.Labels["enclave-mlops/run-id"] != next {
		t.Fatalf("the new run's Job: %+v", j.Metadata)
	}

	// The same from a terminal.
	if code := cli.Main([]string{"pipeline", "runs", "again", first.RunID, "--workspace", rec.Status.URL, "--token", wc.Token()}); code != 0 {
		t.Fatalf("enclave pipeline runs again exited %d", code)
	}
	runs, err := wc.ListRuns(ctx, &client.ListOptions{SortBy: "desc:created", Filters: map[string]string{"snapshot_id": run.Body.SnapshotID}})
	if err != nil || runs.Total != 3 || runs.Items[0].ID == next {
		t.Fatalf("runs of the snapshot after the CLI: %+v %v", runs.Items, err)
	}
	if j := workloadJob(t, cluster, runs.Items[0].ID); j.Metadata.Labels["enclave-mlops/run-id"] != runs.Items[0].ID {
		t.Fatalf("the CLI's run's Job: %+v", j.Metadata)
	}
}
