package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// ControlPlane is a client of the control plane's API.
type ControlPlane struct {
	HTTP
}

// NewControlPlane returns a client for the control plane at baseURL (without
// /api/v1). hc may be nil.
func NewControlPlane(baseURL, token string, hc *http.Client) *ControlPlane {
	return &ControlPlane{HTTP{BaseURL: baseURL, Token: token, Client: hc}}
}

// Token is the OAuth2 answer of a login.
type Token struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// Login logs in with a password and keeps the access token for later calls.
func (c *ControlPlane) Login(ctx context.Context, username, password string) error {
	t, err := c.LoginToken(ctx, url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}})
	if err == nil {
		c.Token = t.AccessToken
	}
	return err
}

// LoginToken posts a login form and returns the token without keeping it.
func (c *ControlPlane) LoginToken(ctx context.Context, form url.Values) (Token, error) {
	var t Token
	err := c.PostForm(ctx, "/api/v1/auth/login", form, &t)
	return t, err
}

// Organization is a tenant.
type Organization struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// Account is a person or service account of the control plane.
type Account struct {
	ID               string `json:"id"`
	Username         string `json:"username"`
	Name             string `json:"name"`
	Email            string `json:"email"`
	IsSuperuser      bool   `json:"is_superuser"`
	IsServiceAccount bool   `json:"is_service_account"`
	Active           bool   `json:"active"`
}

// Member is a user in an organization with its organization roles.
type Member struct {
	User  Account  `json:"user"`
	Roles []string `json:"roles"`
}

// ControlPlaneWorkspace is a workspace as the control plane knows it.
type ControlPlaneWorkspace struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Organization struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"organization"`
	Enrolled bool `json:"enrolled"`
	Status   struct {
		Version      string     `json:"version"`
		URL          string     `json:"url"`
		Health       string     `json:"health"`
		DatabaseType string     `json:"database_type"`
		LastSeen     *time.Time `json:"last_seen"`
	} `json:"status"`
	EnrollmentKey string `json:"enrollment_key,omitempty"`
}

// Team groups members.
type Team struct {
	ID          string   `json:"id"`
	OrgID       string   `json:"organization_id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	MemberIDs   []string `json:"member_ids"`
}

// Role is a built-in or custom role.
type Role struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Description string              `json:"description"`
	Builtin     bool                `json:"builtin"`
	Permissions map[string][]string `json:"permissions"`
}

// Assignment is a role given to a user or team at a scope.
type Assignment struct {
	ID          string `json:"id"`
	SubjectType string `json:"subject_type"`
	SubjectID   string `json:"subject_id"`
	Role        string `json:"role"`
	Scope       string `json:"scope"`
	ScopeID     string `json:"scope_id"`
	WorkspaceID string `json:"workspace_id,omitempty"`
}

// AssignmentRequest asks for a role assignment; give UserID or TeamID.
type AssignmentRequest struct {
	Role        string `json:"role"`
	UserID      string `json:"user_id,omitempty"`
	TeamID      string `json:"team_id,omitempty"`
	Scope       string `json:"scope"`
	WorkspaceID string `json:"workspace_id,omitempty"`
	ProjectID   string `json:"project_id,omitempty"`
}

// Invitation lets someone join an organization; Token is shown once.
type Invitation struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Role  string `json:"role"`
	Token string `json:"token,omitempty"`
}

// ServiceAccountKey is a service account's key; Key ("<id>.<secret>") is shown once.
type ServiceAccountKey struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Key  string `json:"key,omitempty"`
}

// AuthorizedUser is the answer of users/authorize_server.
type AuthorizedUser struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Username string `json:"username"`
	IsAdmin  bool   `json:"is_admin"`
}

func (c *ControlPlane) CurrentUser(ctx context.Context) (Account, error) {
	var u Account
	return u, c.Do(ctx, "GET", "/api/v1/current-user", nil, nil, &u)
}

func (c *ControlPlane) CreateUser(ctx context.Context, username, password, email string) (Account, error) {
	var u Account
	err := c.Do(ctx, "POST", "/api/v1/users", nil, map[string]any{"username": username, "password": password, "email": email}, &u)
	return u, err
}

func (c *ControlPlane) SetUserActive(ctx context.Context, id string, active bool) (Account, error) {
	var u Account
	return u, c.Do(ctx, "PATCH", "/api/v1/users/"+id, nil, map[string]any{"active": active}, &u)
}

func (c *ControlPlane) ListOrganizations(ctx context.Context) ([]Organization, error) {
	var out []Organization
	return out, c.Do(ctx, "GET", "/api/v1/organizations", nil, nil, &out)
}

func (c *ControlPlane) CreateOrganization(ctx context.Context, name, description string) (Organization, error) {
	var o Organization
	return o, c.Do(ctx, "POST", "/api/v1/organizations", nil, map[string]string{"name": name, "description": description}, &o)
}

func (c *ControlPlane) AddMember(ctx context.Context, orgID, username, role string) (Member, error) {
	var m Member
	return m, c.Do(ctx, "POST", "/api/v1/organizations/"+orgID+"/members", nil, map[string]string{"username": username, "role": role}, &m)
}

func (c *ControlPlane) ListMembers(ctx context.Context, orgID string) ([]Member, error) {
	var out []Member
	return out, c.Do(ctx, "GET", "/api/v1/organizations/"+orgID+"/members", nil, nil, &out)
}

func (c *ControlPlane) RemoveMember(ctx context.Context, orgID, userID string) error {
	return c.Do(ctx, "DELETE", "/api/v1/organizations/"+orgID+"/members/"+userID, nil, nil, nil)
}

func (c *ControlPlane) CreateTeam(ctx context.Context, orgID, name string) (Team, error) {
	var t Team
	return t, c.Do(ctx, "POST", "/api/v1/organizations/"+orgID+"/teams", nil, map[string]string{"name": name}, &t)
}

func (c *ControlPlane) AddTeamMember(ctx context.Context, teamID, userID string) (Team, error) {
	var t Team
	return t, c.Do(ctx, "POST", "/api/v1/teams/"+teamID+"/members", nil, map[string]string{"user_id": userID}, &t)
}

func (c *ControlPlane) CreateRole(ctx context.Context, orgID, name string, perms map[string][]string) (Role, error) {
	var r Role
	return r, c.Do(ctx, "POST", "/api/v1/organizations/"+orgID+"/roles", nil, map[string]any{"name": name, "permissions": perms}, &r)
}

func (c *ControlPlane) Assign(ctx context.Context, orgID string, req AssignmentRequest) (Assignment, error) {
	var a Assignment
	return a, c.Do(ctx, "POST", "/api/v1/organizations/"+orgID+"/role_assignments", nil, req, &a)
}

func (c *ControlPlane) Invite(ctx context.Context, orgID, email, role string) (Invitation, error) {
	var i Invitation
	return i, c.Do(ctx, "POST", "/api/v1/organizations/"+orgID+"/invitations", nil, map[string]string{"email": email, "role": role}, &i)
}

func (c *ControlPlane) AcceptInvitation(ctx context.Context, token, username, password string) (Account, error) {
	var u Account
	return u, c.Do(ctx, "POST", "/api/v1/invitations/accept", nil, map[string]string{"token": token, "username": username, "password": password}, &u)
}

func (c *ControlPlane) CreateServiceAccount(ctx context.Context, orgID, name, role string) (Member, error) {
	var m Member
	return m, c.Do(ctx, "POST", "/api/v1/organizations/"+orgID+"/service_accounts", nil, map[string]string{"name": name, "role": role}, &m)
}

func (c *ControlPlane) CreateAPIKey(ctx context.Context, serviceAccountID, name string) (ServiceAccountKey, error) {
	var k ServiceAccountKey
	return k, c.Do(ctx, "POST", "/api/v1/service_accounts/"+serviceAccountID+"/api_keys", nil, map[string]string{"name": name}, &k)
}

// ListWorkspaces lists the workspaces of an organization ("" for all the
// caller sees), optionally of one name.
func (c *ControlPlane) ListWorkspaces(ctx context.Context, orgID, name string) ([]ControlPlaneWorkspace, error) {
	q := url.Values{}
	if orgID != "" {
		q.Set("organization_id", orgID)
	}
	if name != "" {
		q.Set("workspace_name", name)
	}
	var out []ControlPlaneWorkspace
	return out, c.Do(ctx, "GET", "/api/v1/workspaces", q, nil, &out)
}

// CreateWorkspace creates a workspace; with enroll, the answer carries the
// enrollment key, once.
func (c *ControlPlane) CreateWorkspace(ctx context.Context, orgID, name string, enroll bool) (ControlPlaneWorkspace, error) {
	var q url.Values
	if enroll {
		q = url.Values{"enroll": {"True"}}
	}
	var w ControlPlaneWorkspace
	return w, c.Do(ctx, "POST", "/api/v1/workspaces", q, map[string]string{"name": name, "organization_id": orgID}, &w)
}

func (c *ControlPlane) GetWorkspace(ctx context.Context, id string) (ControlPlaneWorkspace, error) {
	var w ControlPlaneWorkspace
	return w, c.Do(ctx, "GET", "/api/v1/workspaces/"+id, nil, nil, &w)
}

func (c *ControlPlane) DeleteWorkspace(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/api/v1/workspaces/"+id, nil, nil, nil)
}

// RotateEnrollmentKey replaces a workspace's key; the answer carries the new one.
func (c *ControlPlane) RotateEnrollmentKey(ctx context.Context, id string) (ControlPlaneWorkspace, error) {
	var w ControlPlaneWorkspace
	return w, c.Do(ctx, "POST", "/api/v1/workspaces/"+id+"/enrollment_key", nil, nil, &w)
}

// AuthorizeServer asks whether the caller may use workspace id.
func (c *ControlPlane) AuthorizeServer(ctx context.Context, id string) (AuthorizedUser, error) {
	var u AuthorizedUser
	return u, c.Do(ctx, "GET", "/api/v1/users/authorize_server", url.Values{"server_id": {id}}, nil, &u)
}

// CurrentUserOf returns the user a token belongs to.
func (c *ControlPlane) CurrentUserOf(ctx context.Context, token string) (Account, error) {
	other := *c
	other.Token = token
	return other.CurrentUser(ctx)
}
