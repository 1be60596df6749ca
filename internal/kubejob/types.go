package kubejob

// The few Kubernetes API objects the workload manager needs, with only the
// fields it reads or writes. Their JSON is the API's own, so a Job built here
// is accepted by any apiserver from 1.23 on (ttlSecondsAfterFinished is GA).

// ObjectMeta is the metadata of every object.
type ObjectMeta struct {
	Name              string            `json:"name,omitempty"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	OwnerReferences   []OwnerReference  `json:"ownerReferences,omitempty"`
	CreationTimestamp string            `json:"creationTimestamp,omitempty"`
	DeletionTimestamp string            `json:"deletionTimestamp,omitempty"`
}

// OwnerReference lets the garbage collector delete an object with its owner.
type OwnerReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
}

// Job is a batch/v1 Job.
type Job struct {
	APIVersion string     `json:"apiVersion,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       JobSpec    `json:"spec"`
	Status     JobStatus  `json:"status,omitempty"`
}

// JobSpec is what a Job runs and how often it retries.
type JobSpec struct {
	TTLSecondsAfterFinished *int32          `json:"ttlSecondsAfterFinished,omitempty"`
	BackoffLimit            *int32          `json:"backoffLimit,omitempty"`
	Template                PodTemplateSpec `json:"template"`
}

// JobStatus says where a Job is.
type JobStatus struct {
	Active     int32          `json:"active,omitempty"`
	Succeeded  int32          `json:"succeeded,omitempty"`
	Failed     int32          `json:"failed,omitempty"`
	Conditions []JobCondition `json:"conditions,omitempty"`
}

// JobCondition is one condition of a Job: Complete and Failed end it.
type JobCondition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Finished reports whether the Job has ended, and if so whether it failed and
// why. The Job controller sets Complete or Failed once and never clears it.
func (j *Job) Finished() (done, failed bool, reason string) {
	for _, c := range j.Status.Conditions {
		if c.Status != "True" {
			continue
		}
		switch c.Type {
		case "Complete", "SuccessCriteriaMet":
			return true, false, ""
		case "Failed", "FailureTarget":
			r := c.Reason
			if c.Message != "" {
				r += ": " + c.Message
			}
			return true, true, r
		}
	}
	return false, false, ""
}

// JobList is the answer to a list of Jobs.
type JobList struct {
	Items []Job `json:"items"`
}

// PodTemplateSpec is the pod a Job starts.
type PodTemplateSpec struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     PodSpec    `json:"spec"`
}

// PodSpec is the part of a pod's spec a runner needs.
type PodSpec struct {
	ServiceAccountName           string              `json:"serviceAccountName,omitempty"`
	AutomountServiceAccountToken *bool               `json:"automountServiceAccountToken,omitempty"`
	RestartPolicy                string              `json:"restartPolicy"`
	NodeSelector                 map[string]string   `json:"nodeSelector,omitempty"`
	Tolerations                  []Toleration        `json:"tolerations,omitempty"`
	SecurityContext              *PodSecurityContext `json:"securityContext,omitempty"`
	Containers                   []Container         `json:"containers"`
	Volumes                      []Volume            `json:"volumes,omitempty"`
	ImagePullSecrets             []LocalObjectRef    `json:"imagePullSecrets,omitempty"`
}

// Toleration lets a pod onto a tainted node.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// PodSecurityContext applies to every container of a pod.
type PodSecurityContext struct {
	RunAsNonRoot   *bool           `json:"runAsNonRoot,omitempty"`
	RunAsUser      *int64          `json:"runAsUser,omitempty"`
	RunAsGroup     *int64          `json:"runAsGroup,omitempty"`
	FSGroup        *int64          `json:"fsGroup,omitempty"`
	SeccompProfile *SeccompProfile `json:"seccompProfile,omitempty"`
}

// SeccompProfile names a seccomp profile type such as RuntimeDefault.
type SeccompProfile struct {
	Type string `json:"type"`
}

// Container is one container of a pod.
type Container struct {
	Name            string           `json:"name"`
	Image           string           `json:"image"`
	Command         []string         `json:"command,omitempty"`
	Args            []string         `json:"args,omitempty"`
	Env             []EnvVar         `json:"env,omitempty"`
	Resources       *Resources       `json:"resources,omitempty"`
	SecurityContext *SecurityContext `json:"securityContext,omitempty"`
	VolumeMounts    []VolumeMount    `json:"volumeMounts,omitempty"`
	ImagePullPolicy string           `json:"imagePullPolicy,omitempty"`
}

// Resources are a container's requests and limits, quantities as strings.
type Resources struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}

// SecurityContext applies to one container.
type SecurityContext struct {
	RunAsNonRoot             *bool         `json:"runAsNonRoot,omitempty"`
	RunAsUser                *int64        `json:"runAsUser,omitempty"`
	RunAsGroup               *int64        `json:"runAsGroup,omitempty"`
	ReadOnlyRootFilesystem   *bool         `json:"readOnlyRootFilesystem,omitempty"`
	AllowPrivilegeEscalation *bool         `json:"allowPrivilegeEscalation,omitempty"`
	Capabilities             *Capabilities `json:"capabilities,omitempty"`
}

// Capabilities are added to or dropped from a container.
type Capabilities struct {
	Drop []string `json:"drop,omitempty"`
}

// EnvVar is a variable given as a value or read from a Secret.
type EnvVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// EnvVarSource points at a Secret's key.
type EnvVarSource struct {
	SecretKeyRef *SecretKeySelector `json:"secretKeyRef,omitempty"`
}

// SecretKeySelector is one key of a Secret in the pod's namespace.
type SecretKeySelector struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// Volume is a pod volume; only emptyDir is used.
type Volume struct {
	Name     string    `json:"name"`
	EmptyDir *EmptyDir `json:"emptyDir,omitempty"`
}

// EmptyDir is a scratch volume that lives as long as the pod.
type EmptyDir struct {
	SizeLimit string `json:"sizeLimit,omitempty"`
}

// VolumeMount mounts a volume into a container.
type VolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
}

// LocalObjectRef names an object in the same namespace.
type LocalObjectRef struct {
	Name string `json:"name"`
}

// Secret is a v1 Secret; StringData is write-only.
type Secret struct {
	APIVersion string            `json:"apiVersion,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Metadata   ObjectMeta        `json:"metadata"`
	Type       string            `json:"type,omitempty"`
	StringData map[string]string `json:"stringData,omitempty"`
	Data       map[string][]byte `json:"data,omitempty"`
}

// Pod is the part of a v1 Pod the workload manager reads.
type Pod struct {
	Metadata ObjectMeta `json:"metadata"`
	Status   struct {
		Phase string `json:"phase"`
	} `json:"status"`
}

// PodList is the answer to a list of Pods.
type PodList struct {
	Items []Pod `json:"items"`
}
