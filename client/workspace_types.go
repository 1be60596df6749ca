package client

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// This file holds the wire model of a workspace server: every resource
// answers as {id, name, body, metadata, resources, permission_denied}, and
// every list as a Page. The server encodes exactly these types, so a field
// added here is a field on the wire. (Runs and steps, its most frequent
// answers, it writes by hand, with a test that holds those bytes to what
// encoding/json makes of these types.)

// Time is a timestamp as the wire writes it: ISO 8601 in UTC without a zone
// suffix ("2006-01-02T15:04:05.000000"), the way the original server and its
// Python clients do. It reads that form, RFC 3339, and a space instead of T.
type Time struct{ time.Time }

// TimeLayout is the layout Time is written in.
const TimeLayout = "2006-01-02T15:04:05.000000"

// NewTime wraps t, in UTC.
func NewTime(t time.Time) Time { return Time{t.UTC()} }

// TimeOf returns a pointer to NewTime(t), for optional fields.
func TimeOf(t time.Time) *Time { v := NewTime(t); return &v }

// Ran is how long something that started at start ran, to the second:
// until end, or until now while it runs; ok is false before it starts.
func Ran(start, end *Time) (d time.Duration, ok bool) {
	if start == nil {
		return 0, false
	}
	until := time.Now()
	if end != nil {
		until = end.Time
	}
	return max(until.Sub(start.Time).Round(time.Second), 0), true
}

// MarshalJSON writes t in TimeLayout, in UTC. A list of runs holds hundreds
// of times: they are written digit by digit rather than through the layout.
func (t Time) MarshalJSON() ([]byte, error) {
	return t.AppendJSON(make([]byte, 0, len(TimeLayout)+2)), nil
}

// AppendJSON appends what MarshalJSON writes to b.
func (t Time) AppendJSON(b []byte) []byte {
	return append(appendTime(append(b, '"'), t.Time), '"')
}

// appendTime appends t.UTC().Format(TimeLayout) to b.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, TimeLayout)
	}
	b = appendDigits(b, y, 4)
	b = appendDigits(append(b, '-'), int(mo), 2)
	b = appendDigits(append(b, '-'), d, 2)
	b = appendDigits(append(b, 'T'), h, 2)
	b = appendDigits(append(b, ':'), mi, 2)
	b = appendDigits(append(b, ':'), s, 2)
	return appendDigits(append(b, '.'), t.Nanosecond()/1000, 6)
}

// appendDigits appends v, 0 ≤ v < 10^width, as width decimal digits.
func appendDigits(b []byte, v, width int) []byte {
	var buf [8]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:width]...)
}

func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a time must be a string like 2024-05-01T10:00:00")
	}
	p, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = p
	return nil
}

// ParseTime reads a timestamp in any form the wire accepts; one without a
// zone is UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(s) > 64 {
		return time.Time{}, fmt.Errorf("time %.20q... is too long", s)
	}
	norm := strings.Replace(s, " ", "T", 1)
	if t, err := time.Parse(time.RFC3339Nano, norm); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, norm, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q is not in the form YYYY-MM-DD HH:MM:SS", s)
}

// Resource is the envelope of every answer.
type Resource[B, M, R any] struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Body             B      `json:"body"`
	Metadata         *M     `json:"metadata"`
	Resources        *R     `json:"resources"`
	PermissionDenied bool   `json:"permission_denied"`
}

// Page is one page of a list.
type Page[T any] struct {
	Index      int   `json:"index"`
	MaxSize    int   `json:"max_size"`
	TotalPages int   `json:"total_pages"`
	Total      int64 `json:"total"`
	Items      []T   `json:"items"`
}

// NoResources is the resources of a type that has none.
type NoResources struct{}

// TagRef is a tag as other resources show it.
type TagRef struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Color string `json:"color"`
}

// Tagged is the resources part of every taggable type.
type Tagged struct {
	Tags []TagRef `json:"tags"`
}

// TokenResponse is the answer of a login.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// ServerInfo is the answer of GET /api/v1/info.
type ServerInfo struct {
	ID                  string         `json:"id"`
	Name                string         `json:"name"`
	Version             string         `json:"version"`
	Active              bool           `json:"active"`
	Debug               bool           `json:"debug"`
	DeploymentType      string         `json:"deployment_type"`
	DatabaseType        string         `json:"database_type"`
	SecretsStoreType    string         `json:"secrets_store_type"`
	AuthScheme          string         `json:"auth_scheme"`
	ServerURL           string         `json:"server_url"`
	DashboardURL        string         `json:"dashboard_url"`
	Metadata            map[string]any `json:"metadata"`
	ProAPIURL           string         `json:"pro_api_url,omitempty"`
	ProDashboardURL     string         `json:"pro_dashboard_url,omitempty"`
	ProOrganizationID   string         `json:"pro_organization_id,omitempty"`
	ProOrganizationName string         `json:"pro_organization_name,omitempty"`
	ProWorkspaceID      string         `json:"pro_workspace_id,omitempty"`
	ProWorkspaceName    string         `json:"pro_workspace_name,omitempty"`
}

// ServerSettings is the answer of GET /api/v1/settings: what an
// administrator may change about the server.
type ServerSettings struct {
	ID               string             `json:"id"`
	Body             ServerSettingsBody `json:"body"`
	Metadata         *NoResources       `json:"metadata"`
	Resources        *NoResources       `json:"resources"`
	PermissionDenied bool               `json:"permission_denied"`
}

type ServerSettingsBody struct {
	ServerID             string  `json:"server_id"`
	ServerName           string  `json:"server_name"`
	LogoURL              *string `json:"logo_url"`
	Active               bool    `json:"active"`
	EnableAnalytics      bool    `json:"enable_analytics"`
	DisplayAnnouncements *bool   `json:"display_announcements"`
	DisplayUpdates       *bool   `json:"display_updates"`
	LastUserActivity     Time    `json:"last_user_activity"`
	Updated              Time    `json:"updated"`
}

// ServerSettingsUpdate is the body of PUT /api/v1/settings; absent fields
// are left as they are.
type ServerSettingsUpdate struct {
	ServerName           *string `json:"server_name,omitempty"`
	LogoURL              *string `json:"logo_url,omitempty"`
	EnableAnalytics      *bool   `json:"enable_analytics,omitempty"`
	DisplayAnnouncements *bool   `json:"display_announcements,omitempty"`
	DisplayUpdates       *bool   `json:"display_updates,omitempty"`
	LastUserActivity     *Time   `json:"last_user_activity,omitempty"`
}

// ---- users, service accounts, API keys

type UserBody struct {
	Created          Time   `json:"created"`
	Updated          Time   `json:"updated"`
	Active           bool   `json:"active"`
	FullName         string `json:"full_name"`
	IsServiceAccount bool   `json:"is_service_account"`
	IsAdmin          bool   `json:"is_admin"`
}

type UserMetadata struct {
	Email          string  `json:"email"`
	ExternalUserID *string `json:"external_user_id"`
	Description    string  `json:"description,omitempty"`
}

type User = Resource[UserBody, UserMetadata, NoResources]

type UserRequest struct {
	Name     string `json:"name"`
	FullName string `json:"full_name,omitempty"`
	Email    string `json:"email,omitempty"`
	Password string `json:"password,omitempty"`
	IsAdmin  bool   `json:"is_admin,omitempty"`
	Active   *bool  `json:"active,omitempty"`
}

type UserUpdate struct {
	Name        *string `json:"name,omitempty"`
	FullName    *string `json:"full_name,omitempty"`
	Email       *string `json:"email,omitempty"`
	Password    *string `json:"password,omitempty"`
	OldPassword *string `json:"old_password,omitempty"`
	IsAdmin     *bool   `json:"is_admin,omitempty"`
	Active      *bool   `json:"active,omitempty"`
}

type ServiceAccountRequest struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Active      *bool  `json:"active,omitempty"`
}

type ServiceAccountUpdate struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
	Active      *bool   `json:"active,omitempty"`
}

type APIKeyBody struct {
	Created          Time   `json:"created"`
	Updated          Time   `json:"updated"`
	Active           bool   `json:"active"`
	ServiceAccountID string `json:"service_account_id"`
	LastLogin        *Time  `json:"last_login"`
	LastRotated      *Time  `json:"last_rotated"`
	// Key is the secret, shown only in the answer that creates or rotates it.
	Key string `json:"key,omitempty"`
}

type APIKeyMetadata struct {
	Description string `json:"description"`
}

type APIKey = Resource[APIKeyBody, APIKeyMetadata, NoResources]

type APIKeyRequest struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// ---- projects

type ProjectBody struct {
	Created     Time   `json:"created"`
	Updated     Time   `json:"updated"`
	DisplayName string `json:"display_name"`
}

type ProjectMetadata struct {
	Description string `json:"description"`
}

type Project = Resource[ProjectBody, ProjectMetadata, NoResources]

type ProjectRequest struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name,omitempty"`
	Description string `json:"description,omitempty"`
}

type ProjectUpdate struct {
	Name        *string `json:"name,omitempty"`
	DisplayName *string `json:"display_name,omitempty"`
	Description *string `json:"description,omitempty"`
}

// ---- stacks, components, flavors

type StackBody struct {
	Created Time   `json:"created"`
	Updated Time   `json:"updated"`
	UserID  string `json:"user_id"`
}

type StackMetadata struct {
	Description string                 `json:"description"`
	Components  map[string][]Component `json:"components"`
}

type Stack = Resource[StackBody, StackMetadata, NoResources]

type StackRequest struct {
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	Components  map[string][]string `json:"components"`
}

type StackUpdate struct {
	Name        *string             `json:"name,omitempty"`
	Description *string             `json:"description,omitempty"`
	Components  map[string][]string `json:"components,omitempty"`
}

type ComponentBody struct {
	Created    Time   `json:"created"`
	Updated    Time   `json:"updated"`
	UserID     string `json:"user_id"`
	Type       string `json:"type"`
	FlavorName string `json:"flavor_name"`
}

type ComponentMetadata struct {
	Configuration map[string]any `json:"configuration"`
	Labels        map[string]any `json:"labels"`
}

type Component = Resource[ComponentBody, ComponentMetadata, NoResources]

type ComponentRequest struct {
	Name          string         `json:"name"`
	Type          string         `json:"type"`
	Flavor        string         `json:"flavor"`
	Configuration map[string]any `json:"configuration,omitempty"`
	Labels        map[string]any `json:"labels,omitempty"`
}

type ComponentUpdate struct {
	Name          *string        `json:"name,omitempty"`
	Configuration map[string]any `json:"configuration,omitempty"`
	Labels        map[string]any `json:"labels,omitempty"`
}

type FlavorBody struct {
	Created     Time   `json:"created"`
	Updated     Time   `json:"updated"`
	UserID      string `json:"user_id"`
	Type        string `json:"type"`
	Integration string `json:"integration"`
	Source      string `json:"source"`
	LogoURL     string `json:"logo_url"`
}

type FlavorMetadata struct {
	ConfigSchema map[string]any `json:"config_schema"`
}

type Flavor = Resource[FlavorBody, FlavorMetadata, NoResources]

type FlavorRequest struct {
	Name         string         `json:"name"`
	Type         string         `json:"type"`
	Source       string         `json:"source"`
	Integration  string         `json:"integration,omitempty"`
	LogoURL      string         `json:"logo_url,omitempty"`
	ConfigSchema map[string]any `json:"config_schema,omitempty"`
}

// A code repository is where the code of a project's pipelines lives (a
// git server inside the network): the SDK lists them when it resolves a
// step's source, to record which commit a run came from. Source names the
// class that reads the repository, as {"module", "attribute", "type"}.
type CodeRepositoryBody struct {
	Created   Time            `json:"created"`
	Updated   Time            `json:"updated"`
	UserID    string          `json:"user_id"`
	ProjectID string          `json:"project_id"`
	Source    json.RawMessage `json:"source"`
	LogoURL   *string         `json:"logo_url"`
}

type CodeRepositoryMetadata struct {
	Config      map[string]any `json:"config"`
	Description *string        `json:"description"`
}

type CodeRepository = Resource[CodeRepositoryBody, CodeRepositoryMetadata, NoResources]

type CodeRepositoryRequest struct {
	Name        string          `json:"name"`
	Project     string          `json:"project"`
	Config      map[string]any  `json:"config,omitempty"`
	Source      json.RawMessage `json:"source"`
	LogoURL     *string         `json:"logo_url,omitempty"`
	Description *string         `json:"description,omitempty"`
}

type CodeRepositoryUpdate struct {
	Name        *string        `json:"name,omitempty"`
	Config      map[string]any `json:"config,omitempty"`
	LogoURL     *string        `json:"logo_url,omitempty"`
	Description *string        `json:"description,omitempty"`
}
