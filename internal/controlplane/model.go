package controlplane

import (
	"time"

	"github.com/enclave-mlops/enclave/internal/rbac"
)

// User is a person or a service account that can log in.
type User struct {
	ID               string    `json:"id"`
	Username         string    `json:"username"`
	Name             string    `json:"name"`
	Email            string    `json:"email"`
	IsSuperuser      bool      `json:"is_superuser"`
	IsServiceAccount bool      `json:"is_service_account"`
	Active           bool      `json:"active"`
	Created          time.Time `json:"created"`
	Updated          time.Time `json:"updated"`

	passwordHash string
}

// Organization is a tenant: nothing in it is visible to non-members.
type Organization struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// OrgRef is the short form of an organization inside other answers.
type OrgRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Member is a user's membership of an organization with its roles there.
type Member struct {
	User  User     `json:"user"`
	Roles []string `json:"roles"` // organization-scope roles
}

// Team groups members of one organization.
type Team struct {
	ID          string    `json:"id"`
	OrgID       string    `json:"organization_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	MemberIDs   []string  `json:"member_ids"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// Role is a custom role of an organization, or a built-in one (ID = name).
type Role struct {
	ID          string           `json:"id"`
	OrgID       string           `json:"organization_id,omitempty"`
	Name        string           `json:"name"`
	Description string           `json:"description"`
	Builtin     bool             `json:"builtin"`
	Permissions rbac.Permissions `json:"permissions"`
	Created     time.Time        `json:"created"`
	Updated     time.Time        `json:"updated"`
}

// Assignment gives a user or team a role at a scope.
type Assignment struct {
	ID          string     `json:"id"`
	OrgID       string     `json:"organization_id"`
	SubjectType string     `json:"subject_type"` // "user" or "team"
	SubjectID   string     `json:"subject_id"`
	Role        string     `json:"role"` // a built-in name or a custom role id
	Scope       rbac.Scope `json:"scope"`
	ScopeID     string     `json:"scope_id"`
	WorkspaceID string     `json:"workspace_id,omitempty"` // for workspace and project scopes
	Created     time.Time  `json:"created"`
}

// WorkspaceStatus is what a workspace server last reported.
type WorkspaceStatus struct {
	Version      string     `json:"version"`
	URL          string     `json:"url"`
	Health       string     `json:"health"`
	DatabaseType string     `json:"database_type"`
	LastSeen     *time.Time `json:"last_seen"`
}

// Workspace is an enrolled (or to-be-enrolled) workspace server.
type Workspace struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	Description   string          `json:"description"`
	Organization  OrgRef          `json:"organization"`
	Enrolled      bool            `json:"enrolled"`
	Status        WorkspaceStatus `json:"status"`
	Created       time.Time       `json:"created"`
	Updated       time.Time       `json:"updated"`
	EnrollmentKey string          `json:"enrollment_key,omitempty"` // only in the answer that creates it

	keyHash string
}

// APIKey belongs to a service account; its secret is shown once.
type APIKey struct {
	ID       string     `json:"id"`
	UserID   string     `json:"service_account_id"`
	Name     string     `json:"name"`
	Active   bool       `json:"active"`
	LastUsed *time.Time `json:"last_used"`
	Created  time.Time  `json:"created"`
	Key      string     `json:"key,omitempty"`

	keyHash string
}

// Invitation lets someone join an organization with a role.
type Invitation struct {
	ID         string    `json:"id"`
	OrgID      string    `json:"organization_id"`
	Email      string    `json:"email"`
	Role       string    `json:"role"`
	Expires    time.Time `json:"expires"`
	AcceptedBy string    `json:"accepted_by,omitempty"`
	Created    time.Time `json:"created"`
	Token      string    `json:"token,omitempty"`

	tokenHash string
}

// Share gives a user or team actions on one resource of a workspace.
type Share struct {
	ID          string        `json:"id"`
	WorkspaceID string        `json:"workspace_id"`
	Resource    string        `json:"resource"`
	SubjectType string        `json:"subject_type"`
	SubjectID   string        `json:"subject_id"`
	Actions     []rbac.Action `json:"actions"`
	SharedBy    string        `json:"sharing_user_id"`
}
