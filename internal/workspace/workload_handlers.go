package workspace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/kubejob"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// workloads is the workload manager of a server: it starts snapshot runs as
// Kubernetes Jobs, or as local processes (workload_local.go), counts those
// in flight, and follows them (workload_watch.go).
type workloads struct {
	m         *kubejob.Manager // nil with local runners
	local     *localRunners    // nil with Kubernetes Jobs
	cfg       *WorkloadConfig
	serverID  string
	log       *slog.Logger
	poll      time.Duration // how often the watcher lists the Jobs
	mu        sync.Mutex
	reserved  int                  // slots taken by requests still starting their Job
	inFlight  map[string]time.Time // run ids of the Jobs this process started that have not ended, and when
	handled   map[string]bool      // uids of ended Jobs already dealt with
	runLogger func(runID, line string)
}

// Labels of every runner Job and its pods and Secret.
const (
	labelWorkspace = "enclave-mlops/workspace-id"
	labelRun       = "enclave-mlops/run-id"
	labelSnapshot  = "enclave-mlops/snapshot-id"
)

// newWorkloads readies the workload manager when one is configured (nil
// otherwise). The Kubernetes credentials are read here, so that a server
// that cannot reach its cluster says so at start.
func newWorkloads(s *Server) (*workloads, error) {
	cfg := s.cfg.Workload
	if !cfg.Enabled() {
		return nil, nil
	}
	if cfg.Local() {
		l, err := newLocalRunners(cfg)
		if err != nil {
			return nil, err
		}
		w := &workloads{cfg: cfg, serverID: s.serverID, log: s.log, local: l,
			inFlight: map[string]time.Time{}, handled: map[string]bool{}, runLogger: s.workloadRunLogger}
		s.log.Warn("workload manager on: snapshots run as processes of this machine, as this server's user; for one person's machine only",
			"runner", l.binary, "max_concurrent", cfg.MaxConcurrent)
		return w, nil
	}
	kc, err := kubejob.Load(cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("workload manager: %w", err)
	}
	if cfg.Namespace == "" {
		c := *cfg
		c.Namespace = kc.Namespace
		cfg = &c
	}
	backoff := cfg.BackoffLimit
	w := &workloads{cfg: cfg, serverID: s.serverID, log: s.log, poll: 3 * time.Second,
		inFlight: map[string]time.Time{}, handled: map[string]bool{}, runLogger: s.workloadRunLogger}
	w.m = &kubejob.Manager{Client: kubejob.NewClient(kc), Settings: kubejob.Settings{
		Namespace: cfg.Namespace, ServiceAccount: cfg.ServiceAccount, Resources: cfg.Resources,
		NodeSelector: cfg.NodeSelector, Tolerations: cfg.Tolerations,
		TTLSecondsAfterFinished: cfg.TTLSeconds, BackoffLimit: &backoff,
	}}
	// log(workload_id, message): the workload id is the run id, so every
	// line lands in the run's log, where the dashboard shows it.
	w.m.Logf = func(id, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		s.log.Info("workload manager: "+msg, "run", id)
		w.runLogger(id, msg)
	}
	s.log.Info("workload manager on", "namespace", cfg.Namespace, "image", cfg.RunnerImage, "max_concurrent", cfg.MaxConcurrent, "api", kc.Host)
	return w, nil
}

// workloadRunLogger adds a line of the workload manager to a run's log.
func (s *Server) workloadRunLogger(runID, line string) {
	if err := s.logs.append(runID, "", time.Now().UTC().Format(time.RFC3339)+" workload manager: "+line+"\n"); err != nil {
		s.log.Warn("workload manager: write the run's log", "run", runID, "err", err)
	}
}

// reserve takes a slot for a run about to start, or says the server is full.
func (w *workloads) reserve() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.reserved+len(w.inFlight) >= w.cfg.MaxConcurrent {
		return false
	}
	w.reserved++
	return true
}

// started turns a reservation into a Job in flight; unreserve gives it back.
func (w *workloads) started(runID string) {
	w.mu.Lock()
	w.reserved--
	w.inFlight[runID] = time.Now()
	w.mu.Unlock()
}

func (w *workloads) unreserve() {
	w.mu.Lock()
	w.reserved--
	w.mu.Unlock()
}

// labelValue makes s a valid label value: itself when it is one, else a hash.
func labelValue(s string) string {
	if labelValuePattern.MatchString(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + hex.EncodeToString(sum[:])[:40]
}

var labelValuePattern = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)

// snapshotRunRequest is the optional body of a snapshot run.
type snapshotRunRequest struct {
	RunName string `json:"run_name,omitempty"`
}

// runSnapshot is POST /api/v1/pipeline_snapshots/{id}/runs: check that the
// snapshot can be run, take a slot, create a placeholder run, mint a token
// scoped to it, and start the runner as a Job. Whatever fails after the run
// exists marks it failed, with the reason in its log, and gives the slot back.
func (s *Server) runSnapshot(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.workloads == nil {
		return errs.E(errs.NotFound, "running snapshots is not configured on this server: it needs a workload manager (ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE)")
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req snapshotRunRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	} else if err := noQuery(r); err != nil {
		return err
	}
	if req.RunName != "" {
		if err := checkName("run_name", req.RunName); err != nil {
			return err
		}
	}
	ctx := r.Context()
	sn, err := s.store.Snapshot(ctx, id, true)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, p, rbac.Read, rtSnapshot, sn.Body.ProjectID, id, sn.Body.UserID); err != nil {
		return err
	}
	if err := s.authorize(ctx, p, rbac.Create, rtRun, sn.Body.ProjectID, "", ""); err != nil {
		return err
	}
	if err := snapshotRunnable(sn); err != nil {
		return err
	}
	wl := s.workloads
	if !wl.reserve() {
		return errs.E(errs.TooMany, "%d snapshot runs are already starting or running on this server (ZENML_SERVER_MAX_CONCURRENT_TEMPLATE_RUNS): try again when one has ended", wl.cfg.MaxConcurrent)
	}
	run, err := s.createPlaceholderRun(ctx, p, sn, req.RunName)
	if err != nil {
		wl.unreserve()
		return err
	}
	if err := s.startRunner(ctx, p, sn, run); err != nil {
		wl.unreserve()
		s.abandonRun(run.ID, err)
		return errs.Wrap(errs.Unavailable, err, "could not start the runner for run %s, which is marked failed: %s", run.ID, wl.startMessage(err))
	}
	return respond(w)(s.store.Run(ctx, run.ID, true))
}

// snapshotRunnable checks that Enclave's runner can run sn: the snapshot
// must be one that 'enclave pipeline run' recorded, whose steps carry their
// command. Others (a Python SDK's, whose steps need its image) are refused
// before a run or a Job exists. The runner checks the rest
// (runner.FromSnapshot) and fails the run with the reason if it must; this
// package cannot import it, as the runner's tests start this server.
func snapshotRunnable(sn client.Snapshot) error {
	if sn.Metadata == nil || len(sn.Metadata.StepConfigurations) == 0 {
		return errs.E(errs.Invalid, "snapshot %s cannot be run: it has no step configurations", sn.ID)
	}
	steps := sn.Metadata.StepConfigurations
	for name, raw := range steps {
		var st struct {
			Command       json.RawMessage `json:"command"`
			UpstreamSteps []string        `json:"upstream_steps"`
		}
		if err := json.Unmarshal(raw, &st); err != nil || !hasCommand(st.Command) {
			return errs.E(errs.Invalid, "snapshot %s cannot be run: step %s has no command; only snapshots recorded by 'enclave pipeline run' can be run by Enclave's runner", sn.ID, name)
		}
		for _, up := range st.UpstreamSteps {
			if _, ok := steps[up]; !ok {
				return errs.E(errs.Invalid, "snapshot %s cannot be run: step %s waits for %q, which is not a step of it", sn.ID, name, up)
			}
		}
	}
	return nil
}

// hasCommand reports whether a step's command is a shell string or an
// argument list, as the runner writes it.
func hasCommand(raw json.RawMessage) bool {
	var line string
	if json.Unmarshal(raw, &line) == nil {
		return strings.TrimSpace(line) != ""
	}
	var args []string
	return json.Unmarshal(raw, &args) == nil && len(args) > 0 && args[0] != ""
}

// createPlaceholderRun creates the run the runner will fill, named by the
// snapshot's run name template. Run names are unique in a project: a name
// already taken gets a short random suffix.
func (s *Server) createPlaceholderRun(ctx context.Context, p *principal, sn client.Snapshot, name string) (client.Run, error) {
	if name == "" {
		name = runName(sn, time.Now().UTC())
	}
	req := client.RunRequest{Name: name, Snapshot: sn.ID, Project: sn.Body.ProjectID, Status: client.StatusInitializing}
	run, err := s.store.CreateRun(ctx, p.UserID, sn.Body.ProjectID, req)
	if errs.Is(err, errs.Conflict) {
		req.Name = name + "-" + newID()[:8]
		run, err = s.store.CreateRun(ctx, p.UserID, sn.Body.ProjectID, req)
	}
	return run, err
}

// runName fills a run name template as the original does: {date} and {time}
// in UTC, with microseconds so that two runs started together differ.
func runName(sn client.Snapshot, now time.Time) string {
	tmpl := ""
	if sn.Metadata != nil {
		tmpl = sn.Metadata.RunNameTemplate
	}
	if tmpl == "" {
		tmpl = "snapshot-run-{date}-{time}"
	}
	name := strings.NewReplacer("{date}", now.Format("2006_01_02"), "{time}", now.Format("15_04_05")+fmt.Sprintf("_%06d", now.Nanosecond()/1000)).Replace(tmpl)
	if len(name) > 255 {
		name = name[:255]
	}
	return name
}

// startRunner mints the run's token and starts the runner, a Job or a
// process; once it has started, its reservation is the run's slot.
func (s *Server) startRunner(ctx context.Context, p *principal, sn client.Snapshot, run client.Run) error {
	tok, err := s.mintRunToken(p.UserID, run.ID)
	if err != nil {
		return err
	}
	wl := s.workloads
	env := map[string]string{
		"ZENML_STORE_URL":         wl.cfg.ServerURL,
		"ZENML_STORE_TYPE":        "rest",
		"ZENML_ACTIVE_PROJECT_ID": sn.Body.ProjectID,
		"ZENML_ACTIVE_STACK_ID":   sn.Metadata.StackID,
		"ENCLAVE_SNAPSHOT_ID":     sn.ID,
		"ENCLAVE_RUN_ID":          run.ID,
		// The root file system is read-only; /tmp is the pod's scratch volume.
		"HOME": "/tmp",
	}
	labels := map[string]string{
		"app.kubernetes.io/name":       "enclave-runner",
		"app.kubernetes.io/part-of":    "enclave",
		"app.kubernetes.io/managed-by": "enclave-workspace",
		labelWorkspace:                 labelValue(s.serverID),
		labelRun:                       run.ID,
		labelSnapshot:                  sn.ID,
	}
	if wl.local != nil {
		env["ZENML_STORE_API_TOKEN"] = tok
		delete(env, "HOME") // the server's own, from localEnv
		wl.runLogger(run.ID, "starting the runner process")
		return wl.local.run(run.ID, env, func() { wl.started(run.ID) }, func(failed bool, reason, output string) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s.jobEnded(ctx, run.ID, failed, reason, func(context.Context) string { return output })
		})
	}
	// No command: the image's entrypoint is enclave (Enclave's own image's
	// is /enclave), which custom runner images must keep.
	_, err = wl.m.Run(context.WithoutCancel(ctx), kubejob.Workload{
		ID: run.ID, Image: wl.cfg.RunnerImage, Args: []string{"pipeline", "run-snapshot"},
		Env: env, SecretEnv: map[string]string{"ZENML_STORE_API_TOKEN": tok}, Labels: labels,
	})
	if err == nil {
		wl.started(run.ID)
	}
	return err
}

// abandonRun marks a run whose runner could not be started as failed.
func (s *Server) abandonRun(runID string, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.workloads.runLogger(runID, "could not start the runner: "+cause.Error())
	failed := client.StatusFailed
	if _, err := s.store.UpdateRun(ctx, "", runID, client.RunUpdate{Status: &failed}); err != nil {
		s.log.Error("workload manager: mark a run that did not start as failed", "run", runID, "err", err)
	}
}

// startMessage says, for the client, why a runner did not start: what the
// apiserver said, which names the missing permission, namespace or quota an
// operator must fix; or why the local process did not start.
func (w *workloads) startMessage(err error) string {
	var ae *kubejob.APIError
	switch {
	case errors.As(err, &ae):
		return ae.Error()
	case w.local != nil:
		return err.Error()
	}
	return "the Kubernetes API could not be reached"
}
