package client

import "encoding/json"

// ---- pipelines and snapshots

type PipelineBody struct {
	Created   Time   `json:"created"`
	Updated   Time   `json:"updated"`
	UserID    string `json:"user_id"`
	ProjectID string `json:"project_id"`
}

type PipelineMetadata struct {
	Description string `json:"description"`
}

type PipelineResources struct {
	Tags            []TagRef `json:"tags"`
	LatestRunID     *string  `json:"latest_run_id"`
	LatestRunStatus *string  `json:"latest_run_status"`
}

type Pipeline = Resource[PipelineBody, PipelineMetadata, PipelineResources]

type PipelineRequest struct {
	Name        string   `json:"name"`
	Project     string   `json:"project"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
}

type PipelineUpdate struct {
	Description *string  `json:"description,omitempty"`
	AddTags     []string `json:"add_tags,omitempty"`
	RemoveTags  []string `json:"remove_tags,omitempty"`
}

type SnapshotBody struct {
	Created   Time   `json:"created"`
	Updated   Time   `json:"updated"`
	UserID    string `json:"user_id"`
	ProjectID string `json:"project_id"`
	Runnable  bool   `json:"runnable"`
}

type SnapshotMetadata struct {
	Description           string                     `json:"description"`
	RunNameTemplate       string                     `json:"run_name_template"`
	PipelineConfiguration json.RawMessage            `json:"pipeline_configuration"`
	StepConfigurations    map[string]json.RawMessage `json:"step_configurations"`
	ClientVersion         string                     `json:"client_version"`
	ServerVersion         string                     `json:"server_version"`
	PipelineSpec          json.RawMessage            `json:"pipeline_spec"`
	PipelineID            string                     `json:"pipeline_id"`
	StackID               string                     `json:"stack_id"`
	BuildID               *string                    `json:"build_id"`
	ScheduleID            *string                    `json:"schedule_id"`
}

type Snapshot = Resource[SnapshotBody, SnapshotMetadata, Tagged]

type SnapshotRequest struct {
	Name                  string                     `json:"name,omitempty"`
	Description           string                     `json:"description,omitempty"`
	Project               string                     `json:"project"`
	Pipeline              string                     `json:"pipeline"`
	Stack                 string                     `json:"stack"`
	Build                 *string                    `json:"build,omitempty"`
	Schedule              *string                    `json:"schedule,omitempty"`
	RunNameTemplate       string                     `json:"run_name_template"`
	PipelineConfiguration json.RawMessage            `json:"pipeline_configuration"`
	StepConfigurations    map[string]json.RawMessage `json:"step_configurations"`
	ClientVersion         string                     `json:"client_version,omitempty"`
	ServerVersion         string                     `json:"server_version,omitempty"`
	PipelineSpec          json.RawMessage            `json:"pipeline_spec,omitempty"`
	Tags                  []string                   `json:"tags,omitempty"`
}

type SnapshotUpdate struct {
	Name        *string  `json:"name,omitempty"`
	Description *string  `json:"description,omitempty"`
	AddTags     []string `json:"add_tags,omitempty"`
	RemoveTags  []string `json:"remove_tags,omitempty"`
}

// ---- runs and steps

// Run statuses.
const (
	StatusInitializing = "initializing"
	StatusRunning      = "running"
	StatusCompleted    = "completed"
	StatusFailed       = "failed"
	StatusCached       = "cached"
	StatusStopping     = "stopping"
	StatusStopped      = "stopped"
	StatusRetrying     = "retrying"
)

// Statuses lists every status a run or step can have.
var Statuses = []string{StatusInitializing, StatusRunning, StatusCompleted, StatusFailed, StatusCached, StatusStopping, StatusStopped, StatusRetrying}

type RunBody struct {
	Created           Time    `json:"created"`
	Updated           Time    `json:"updated"`
	UserID            string  `json:"user_id"`
	ProjectID         string  `json:"project_id"`
	Status            string  `json:"status"`
	InProgress        bool    `json:"in_progress"`
	Index             int64   `json:"index"`
	PipelineID        *string `json:"pipeline_id"`
	SnapshotID        string  `json:"snapshot_id"`
	StackID           *string `json:"stack_id"`
	StartTime         *Time   `json:"start_time"`
	EndTime           *Time   `json:"end_time"`
	OrchestratorRunID *string `json:"orchestrator_run_id"`
}

type RunMetadata struct {
	RunMetadata map[string]any `json:"run_metadata"`
}

type Run = Resource[RunBody, RunMetadata, Tagged]

type RunRequest struct {
	Name              string   `json:"name"`
	Snapshot          string   `json:"snapshot"`
	Project           string   `json:"project"`
	Status            string   `json:"status"`
	OrchestratorRunID *string  `json:"orchestrator_run_id,omitempty"`
	StartTime         *Time    `json:"start_time,omitempty"`
	EndTime           *Time    `json:"end_time,omitempty"`
	Tags              []string `json:"tags,omitempty"`
}

type RunUpdate struct {
	Status            *string  `json:"status,omitempty"`
	EndTime           *Time    `json:"end_time,omitempty"`
	OrchestratorRunID *string  `json:"orchestrator_run_id,omitempty"`
	AddTags           []string `json:"add_tags,omitempty"`
	RemoveTags        []string `json:"remove_tags,omitempty"`
}

type StepBody struct {
	Created   Time                `json:"created"`
	Updated   Time                `json:"updated"`
	UserID    string              `json:"user_id"`
	ProjectID string              `json:"project_id"`
	Status    string              `json:"status"`
	StartTime *Time               `json:"start_time"`
	EndTime   *Time               `json:"end_time"`
	Inputs    map[string][]string `json:"inputs"`
	Outputs   map[string][]string `json:"outputs"`
}

type StepMetadata struct {
	PipelineRunID string          `json:"pipeline_run_id"`
	Config        json.RawMessage `json:"config"`
	Spec          json.RawMessage `json:"spec"`
	CacheKey      string          `json:"cache_key"`
	CodeHash      string          `json:"code_hash"`
	ParentStepIDs []string        `json:"parent_step_ids"`
	LogsURI       string          `json:"logs_uri"`
	RunMetadata   map[string]any  `json:"run_metadata"`
}

type Step = Resource[StepBody, StepMetadata, NoResources]

// LogsRequest says where a step's logs are, for clients that write them
// elsewhere than this server.
type LogsRequest struct {
	URI             string `json:"uri"`
	Source          string `json:"source,omitempty"`
	ArtifactStoreID string `json:"artifact_store_id,omitempty"`
}

type StepRequest struct {
	Name          string              `json:"name"`
	PipelineRunID string              `json:"pipeline_run_id"`
	Status        string              `json:"status"`
	StartTime     *Time               `json:"start_time,omitempty"`
	EndTime       *Time               `json:"end_time,omitempty"`
	CacheKey      string              `json:"cache_key,omitempty"`
	CodeHash      string              `json:"code_hash,omitempty"`
	Config        json.RawMessage     `json:"config,omitempty"`
	Spec          json.RawMessage     `json:"spec,omitempty"`
	Inputs        map[string][]string `json:"inputs,omitempty"`
	Outputs       map[string][]string `json:"outputs,omitempty"`
	ParentStepIDs []string            `json:"parent_step_ids,omitempty"`
	Logs          *LogsRequest        `json:"logs,omitempty"`
}

type StepUpdate struct {
	Status  *string             `json:"status,omitempty"`
	EndTime *Time               `json:"end_time,omitempty"`
	Outputs map[string][]string `json:"outputs,omitempty"`
}

// LogAppend adds text to a run's or a step's logs.
type LogAppend struct {
	Content string `json:"content"`
}

// ---- artifacts

type ArtifactBody struct {
	Created   Time   `json:"created"`
	Updated   Time   `json:"updated"`
	UserID    string `json:"user_id"`
	ProjectID string `json:"project_id"`
}

type ArtifactMetadata struct {
	HasCustomName bool `json:"has_custom_name"`
}

// VersionedResources are the resources of something with versions: its
// tags and its latest version.
type VersionedResources struct {
	Tags              []TagRef `json:"tags"`
	LatestVersionID   *string  `json:"latest_version_id"`
	LatestVersionName *string  `json:"latest_version_name"`
}

type ArtifactResources = VersionedResources

type Artifact = Resource[ArtifactBody, ArtifactMetadata, ArtifactResources]

type ArtifactRequest struct {
	Name          string   `json:"name"`
	Project       string   `json:"project"`
	HasCustomName bool     `json:"has_custom_name,omitempty"`
	Tags          []string `json:"tags,omitempty"`
}

type ArtifactUpdate struct {
	Name       *string  `json:"name,omitempty"`
	AddTags    []string `json:"add_tags,omitempty"`
	RemoveTags []string `json:"remove_tags,omitempty"`
}

type ArtifactVersionBody struct {
	Created               Time            `json:"created"`
	Updated               Time            `json:"updated"`
	UserID                string          `json:"user_id"`
	ProjectID             string          `json:"project_id"`
	ArtifactID            string          `json:"artifact_id"`
	Version               string          `json:"version"`
	URI                   string          `json:"uri"`
	Type                  string          `json:"type"`
	Materializer          json.RawMessage `json:"materializer"`
	DataType              json.RawMessage `json:"data_type"`
	SaveType              string          `json:"save_type"`
	ProducerPipelineRunID *string         `json:"producer_pipeline_run_id"`
}

type ArtifactVersionMetadata struct {
	ProducerStepRunID *string        `json:"producer_step_run_id"`
	RunMetadata       map[string]any `json:"run_metadata"`
}

type ArtifactVersion = Resource[ArtifactVersionBody, ArtifactVersionMetadata, Tagged]

type ArtifactVersionRequest struct {
	ArtifactID    string          `json:"artifact_id,omitempty"`
	ArtifactName  string          `json:"artifact_name,omitempty"`
	Project       string          `json:"project"`
	Version       string          `json:"version,omitempty"`
	HasCustomName bool            `json:"has_custom_name,omitempty"`
	Type          string          `json:"type"`
	URI           string          `json:"uri"`
	Materializer  json.RawMessage `json:"materializer,omitempty"`
	DataType      json.RawMessage `json:"data_type,omitempty"`
	SaveType      string          `json:"save_type,omitempty"`
	Tags          []string        `json:"tags,omitempty"`
}

type ArtifactVersionUpdate struct {
	AddTags    []string `json:"add_tags,omitempty"`
	RemoveTags []string `json:"remove_tags,omitempty"`
}
