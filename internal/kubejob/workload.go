package kubejob

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Settings apply to every Job a Manager starts; they come from the
// ZENML_KUBERNETES_WORKLOAD_MANAGER_* variables.
type Settings struct {
	Namespace               string
	ServiceAccount          string // empty: the namespace's default
	Resources               *Resources
	NodeSelector            map[string]string
	Tolerations             []Toleration
	TTLSecondsAfterFinished *int32
	BackoffLimit            *int32
}

// Workload is one program to run, as the original workload manager's
// run(workload_id, image, command, args, env) describes it.
type Workload struct {
	ID      string // the Job is named after it: a DNS label of at most 46 characters
	Image   string
	Command []string
	Args    []string
	Env     map[string]string
	// SecretEnv is kept in a Secret owned by the Job and reaches the
	// container through secretKeyRefs, so that it shows in neither the Job
	// nor its pods.
	SecretEnv map[string]string
	Labels    map[string]string
}

// Manager is the Kubernetes workload manager: run, delete_workload,
// get_logs and log of the original's interface. build_and_push_image has no
// counterpart: building images needs a builder and a registry to push to,
// which an air-gapped site provides by other means.
type Manager struct {
	Client   *Client
	Settings Settings
	// Logf records a line about a workload (log(workload_id, message));
	// nil drops it.
	Logf func(id, format string, args ...any)
}

// JobPrefix begins the name of every Job (and Secret) a Manager creates.
const JobPrefix = "enclave-workload-"

// ContainerName is the name of the one container of a workload's pod.
const ContainerName = "runner"

var idPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,44}[a-z0-9])?$`)

// JobName is the name of the Job (and of its Secret) of workload id.
func JobName(id string) string { return JobPrefix + id }

func (m *Manager) log(id, format string, args ...any) {
	if m.Logf != nil {
		m.Logf(id, format, args...)
	}
}

// Run starts w as a Job and returns the Job as created. The Job is created
// first and the Secret after it, owned by it, so that deleting the Job
// (by hand, by its TTL or by DeleteWorkload) takes the Secret along; a pod
// that starts before its Secret exists waits for it. When the Secret cannot
// be created, the Job is deleted again: nothing is left half-made.
func (m *Manager) Run(ctx context.Context, w Workload) (*Job, error) {
	if !idPattern.MatchString(w.ID) {
		return nil, fmt.Errorf("workload id %q must be a DNS label of at most 46 characters", w.ID)
	}
	if w.Image == "" {
		return nil, errors.New("a workload needs an image")
	}
	ns := m.Settings.Namespace
	job, err := m.Client.CreateJob(ctx, ns, m.job(w))
	if err != nil {
		return nil, err
	}
	m.log(w.ID, "created Job %s/%s", ns, job.Metadata.Name)
	if len(w.SecretEnv) > 0 {
		sec := &Secret{
			Metadata: ObjectMeta{Name: job.Metadata.Name, Namespace: ns, Labels: w.Labels,
				OwnerReferences: []OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Metadata.Name, UID: job.Metadata.UID}}},
			Type: "Opaque", StringData: w.SecretEnv,
		}
		if err := m.Client.CreateSecret(ctx, ns, sec); err != nil {
			// A fresh context: the request's may be what ended.
			if derr := m.Client.DeleteJob(context.WithoutCancel(ctx), ns, job.Metadata.Name); derr != nil {
				m.log(w.ID, "could not delete Job %s after its Secret failed: %v", job.Metadata.Name, derr)
			}
			return nil, fmt.Errorf("create the Secret of Job %s: %w", job.Metadata.Name, err)
		}
	}
	return job, nil
}

func (m *Manager) job(w Workload) *Job {
	s := m.Settings
	name := JobName(w.ID)
	t, f := true, false
	uid := int64(1000)
	var env []EnvVar
	for _, k := range sortedKeys(w.Env) {
		env = append(env, EnvVar{Name: k, Value: w.Env[k]})
	}
	for _, k := range sortedKeys(w.SecretEnv) {
		env = append(env, EnvVar{Name: k, ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{Name: name, Key: k}}})
	}
	return &Job{
		Metadata: ObjectMeta{Name: name, Namespace: s.Namespace, Labels: w.Labels},
		Spec: JobSpec{
			TTLSecondsAfterFinished: s.TTLSecondsAfterFinished,
			BackoffLimit:            s.BackoffLimit,
			Template: PodTemplateSpec{
				Metadata: ObjectMeta{Labels: w.Labels},
				Spec: PodSpec{
					ServiceAccountName: s.ServiceAccount,
					// The runner speaks only to the workspace server, never to
					// the Kubernetes API: it gets no token for it.
					AutomountServiceAccountToken: &f,
					RestartPolicy:                "Never",
					NodeSelector:                 s.NodeSelector,
					Tolerations:                  s.Tolerations,
					SecurityContext: &PodSecurityContext{RunAsNonRoot: &t, RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid,
						SeccompProfile: &SeccompProfile{Type: "RuntimeDefault"}},
					Containers: []Container{{
						Name: ContainerName, Image: w.Image, Command: w.Command, Args: w.Args, Env: env,
						Resources: s.Resources,
						SecurityContext: &SecurityContext{RunAsNonRoot: &t, RunAsUser: &uid, RunAsGroup: &uid,
							ReadOnlyRootFilesystem: &t, AllowPrivilegeEscalation: &f, Capabilities: &Capabilities{Drop: []string{"ALL"}}},
						// The root file system is read-only; steps write here.
						VolumeMounts: []VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
					}},
					Volumes: []Volume{{Name: "tmp", EmptyDir: &EmptyDir{}}},
				},
			},
		},
	}
}

// Job reads the Job of workload id.
func (m *Manager) Job(ctx context.Context, id string) (*Job, error) {
	return m.Client.GetJob(ctx, m.Settings.Namespace, JobName(id))
}

// DeleteWorkload deletes the Job of workload id with its pods and Secret.
func (m *Manager) DeleteWorkload(ctx context.Context, id string) error {
	if err := m.Client.DeleteJob(ctx, m.Settings.Namespace, JobName(id)); err != nil {
		return err
	}
	m.log(id, "deleted Job %s", JobName(id))
	return nil
}

// GetLogs returns the logs of every pod of workload id, oldest pod first,
// each under a header naming the pod.
func (m *Manager) GetLogs(ctx context.Context, id string) (string, error) {
	ns := m.Settings.Namespace
	pods, err := m.Client.ListPods(ctx, ns, "job-name="+JobName(id))
	if err != nil {
		return "", err
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Metadata.CreationTimestamp < pods[j].Metadata.CreationTimestamp })
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "--- pod %s (%s) ---\n", p.Metadata.Name, p.Status.Phase)
		out, err := m.Client.PodLogs(ctx, ns, p.Metadata.Name, ContainerName)
		if err != nil {
			// A pod that never started has no log; say so and go on.
			fmt.Fprintf(&b, "(no log: %v)\n", err)
			continue
		}
		b.WriteString(out)
		if out != "" && !strings.HasSuffix(out, "\n") {
			b.WriteByte('\n')
		}
	}
	return b.String(), nil
}

// Log records a line about workload id.
func (m *Manager) Log(id, message string) { m.log(id, "%s", message) }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
