package client

// ---- models

type ModelBody struct {
	Created   Time   `json:"created"`
	Updated   Time   `json:"updated"`
	UserID    string `json:"user_id"`
	ProjectID string `json:"project_id"`
}

type ModelMetadata struct {
	Description string `json:"description"`
	License     string `json:"license"`
	Audience    string `json:"audience"`
	UseCases    string `json:"use_cases"`
	Limitations string `json:"limitations"`
	TradeOffs   string `json:"trade_offs"`
	Ethics      string `json:"ethics"`
}

type ModelResources = VersionedResources

type Model = Resource[ModelBody, ModelMetadata, ModelResources]

type ModelRequest struct {
	Name        string   `json:"name"`
	Project     string   `json:"project"`
	Description string   `json:"description,omitempty"`
	License     string   `json:"license,omitempty"`
	Audience    string   `json:"audience,omitempty"`
	UseCases    string   `json:"use_cases,omitempty"`
	Limitations string   `json:"limitations,omitempty"`
	TradeOffs   string   `json:"trade_offs,omitempty"`
	Ethics      string   `json:"ethics,omitempty"`
	Tags        []string `json:"tags,omitempty"`
}

type ModelUpdate struct {
	Name        *string  `json:"name,omitempty"`
	Description *string  `json:"description,omitempty"`
	License     *string  `json:"license,omitempty"`
	Audience    *string  `json:"audience,omitempty"`
	UseCases    *string  `json:"use_cases,omitempty"`
	Limitations *string  `json:"limitations,omitempty"`
	TradeOffs   *string  `json:"trade_offs,omitempty"`
	Ethics      *string  `json:"ethics,omitempty"`
	AddTags     []string `json:"add_tags,omitempty"`
	RemoveTags  []string `json:"remove_tags,omitempty"`
}

// Model version stages.
var ModelStages = []string{"none", "staging", "production", "archived"}

type ModelVersionBody struct {
	Created   Time   `json:"created"`
	Updated   Time   `json:"updated"`
	UserID    string `json:"user_id"`
	ProjectID string `json:"project_id"`
	ModelID   string `json:"model_id"`
	Number    int64  `json:"number"`
	Stage     string `json:"stage"`
}

type ModelVersionMetadata struct {
	Description string         `json:"description"`
	RunMetadata map[string]any `json:"run_metadata"`
}

type ModelVersion = Resource[ModelVersionBody, ModelVersionMetadata, Tagged]

type ModelVersionRequest struct {
	Model       string   `json:"model"`
	Project     string   `json:"project"`
	Name        string   `json:"name,omitempty"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
}

type ModelVersionUpdate struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
	Stage       *string `json:"stage,omitempty"`
	// Force moves the stage away from the version that holds it now.
	Force      bool     `json:"force,omitempty"`
	AddTags    []string `json:"add_tags,omitempty"`
	RemoveTags []string `json:"remove_tags,omitempty"`
}

// ---- secrets

type SecretBody struct {
	Created Time   `json:"created"`
	Updated Time   `json:"updated"`
	UserID  string `json:"user_id"`
	Private bool   `json:"private"`
	// Values maps each key to its value, or to null when the answer does not
	// carry values (lists, and callers without read_secret_value).
	Values map[string]*string `json:"values"`
}

type Secret = Resource[SecretBody, NoResources, NoResources]

type SecretRequest struct {
	Name    string            `json:"name"`
	Private bool              `json:"private,omitempty"`
	Values  map[string]string `json:"values"`
}

type SecretUpdate struct {
	Name    *string `json:"name,omitempty"`
	Private *bool   `json:"private,omitempty"`
	// Values sets keys; a null value removes its key.
	Values map[string]*string `json:"values,omitempty"`
}

// ---- tags and run metadata

type TagBody struct {
	Created     Time   `json:"created"`
	Updated     Time   `json:"updated"`
	UserID      string `json:"user_id"`
	Color       string `json:"color"`
	Exclusive   bool   `json:"exclusive"`
	TaggedCount int64  `json:"tagged_count"`
}

type Tag = Resource[TagBody, NoResources, NoResources]

// TagColors are the colors a tag may have.
var TagColors = []string{"grey", "purple", "red", "green", "yellow", "orange", "lime", "teal", "turquoise", "magenta", "blue"}

type TagRequest struct {
	Name      string `json:"name"`
	Color     string `json:"color,omitempty"`
	Exclusive bool   `json:"exclusive,omitempty"`
}

type TagUpdate struct {
	Name      *string `json:"name,omitempty"`
	Color     *string `json:"color,omitempty"`
	Exclusive *bool   `json:"exclusive,omitempty"`
}

// MetadataResource names what a run-metadata entry is attached to.
type MetadataResource struct {
	ID   string `json:"id"`
	Type string `json:"type"` // pipeline_run, step_run, artifact_version, model_version
}

type RunMetadataRequest struct {
	Resources       []MetadataResource `json:"resources"`
	Values          map[string]any     `json:"values"`
	Types           map[string]string  `json:"types,omitempty"`
	PublisherStepID *string            `json:"publisher_step_id,omitempty"`
}
