// Package rbac decides who may do what. It holds the resource and action
// vocabulary of the wire protocol, the built-in roles, and the one decision
// function that both the control plane and its tests use. Everything here is
// a pure function of its arguments: no storage, no HTTP.
package rbac

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Action is something done to a resource.
type Action string

const (
	Create          Action = "create"
	Read            Action = "read"
	Update          Action = "update"
	Delete          Action = "delete"
	ReadSecretValue Action = "read_secret_value"
	Prune           Action = "prune"
	Client          Action = "client"
	Promote         Action = "promote"
	BackupRestore   Action = "backup_restore"
	Share           Action = "share"
)

// Actions lists every action, in the wire's order.
var Actions = []Action{Create, Read, Update, Delete, ReadSecretValue, Prune, Client, Promote, BackupRestore, Share}

// ValidAction reports whether a is a known action.
func ValidAction(a Action) bool { return slices.Contains(Actions, a) }

// ResourceType names a kind of resource.
type ResourceType string

// Resource types of the control plane itself.
const (
	Organization   ResourceType = "organization"
	Workspace      ResourceType = "workspace"
	Team           ResourceType = "team"
	Member         ResourceType = "member" // users and their memberships
	Role           ResourceType = "role"
	ServiceAccount ResourceType = "service_account"
)

// Resource types of a workspace server, as the wire names them.
var WorkspaceTypes = []ResourceType{
	"artifact", "artifact_version", "code_repository", "model", "model_version", "pipeline",
	"pipeline_run", "pipeline_deployment", "pipeline_snapshot", "pipeline_build", "run_template",
	"run_metadata", "secret", "service_account", "service_connector", "stack", "stack_component",
	"schedule", "tag", "project", "flavor", "user", "event_source", "action", "trigger",
	"deployment", "logs", "step_run",
}

// ControlPlaneTypes are the control plane's own resource types.
var ControlPlaneTypes = []ResourceType{Organization, Workspace, Team, Member, Role, ServiceAccount}

// ValidType reports whether t is a known resource type.
func ValidType(t ResourceType) bool {
	return slices.Contains(WorkspaceTypes, t) || slices.Contains(ControlPlaneTypes, t)
}

// Resource is one resource string of the wire: [{project_id}:]{type}[/{id}].
type Resource struct {
	Project string
	Type    ResourceType
	ID      string
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ParseResource reads a resource string.
func ParseResource(s string) (Resource, error) {
	var r Resource
	rest := s
	if p, after, ok := strings.Cut(s, ":"); ok {
		if !idPattern.MatchString(p) {
			return r, fmt.Errorf("resource %q: bad project id", s)
		}
		r.Project, rest = p, after
	}
	t, id, hasID := strings.Cut(rest, "/")
	r.Type = ResourceType(t)
	if !ValidType(r.Type) {
		return r, fmt.Errorf("resource %q: unknown type %q", s, t)
	}
	if hasID {
		if !idPattern.MatchString(id) {
			return r, fmt.Errorf("resource %q: bad id", s)
		}
		r.ID = id
	}
	return r, nil
}

func (r Resource) String() string {
	s := string(r.Type)
	if r.ID != "" {
		s += "/" + r.ID
	}
	if r.Project != "" {
		s = r.Project + ":" + s
	}
	return s
}

// Scope is where a role is granted.
type Scope string

const (
	ScopeOrganization Scope = "organization"
	ScopeWorkspace    Scope = "workspace"
	ScopeProject      Scope = "project"
)

// Permissions maps a resource type ("*" for every type) to the actions a
// role allows on it.
type Permissions map[ResourceType][]Action

// Allows reports whether p allows action on type t.
func (p Permissions) Allows(t ResourceType, a Action) bool {
	return slices.Contains(p[t], a) || slices.Contains(p["*"], a)
}

// Validate checks that p names only known types and actions.
func (p Permissions) Validate() error {
	if len(p) == 0 {
		return fmt.Errorf("a role needs at least one permission")
	}
	for t, acts := range p {
		if t != "*" && !ValidType(t) {
			return fmt.Errorf("unknown resource type %q", t)
		}
		if len(acts) == 0 {
			return fmt.Errorf("resource type %q has no actions", t)
		}
		for _, a := range acts {
			if !ValidAction(a) {
				return fmt.Errorf("unknown action %q for %q", a, t)
			}
		}
	}
	return nil
}

// Built-in role names.
const (
	AdminRole  = "Admin"
	EditorRole = "Editor"
	ViewerRole = "Viewer"
)

// Builtin returns the permissions of a built-in role, or false.
//
// Admin may do everything. Editor may create and change the work of a
// workspace (pipelines, runs, artifacts, models, stacks, secrets) and read the
// organization, but not manage members, users, service accounts, teams, roles
// or workspaces. Viewer
// reads, but not secret values.
func Builtin(name string) (Permissions, bool) {
	switch name {
	case AdminRole:
		return Permissions{"*": Actions}, true
	case EditorRole:
		p := Permissions{}
		work := []Action{Create, Read, Update, Delete, ReadSecretValue, Prune, Client, Promote, Share}
		for _, t := range WorkspaceTypes {
			p[t] = work
		}
		// People are managed by administrators only.
		p["user"] = []Action{Read}
		p[ServiceAccount] = []Action{Read}
		for _, t := range ControlPlaneTypes {
			p[t] = []Action{Read}
		}
		return p, true
	case ViewerRole:
		p := Permissions{}
		for _, t := range append(slices.Clone(WorkspaceTypes), ControlPlaneTypes...) {
			p[t] = []Action{Read}
		}
		return p, true
	}
	return nil, false
}

// IsBuiltin reports whether name is a built-in role.
func IsBuiltin(name string) bool {
	_, ok := Builtin(name)
	return ok
}

// Grant is a role given at a scope: the organization, one workspace, or one
// project of a workspace.
type Grant struct {
	Scope       Scope
	ScopeID     string // organization, workspace or project id
	Permissions Permissions
}

// ResourceShare is a grant of actions on one resource to a user or team.
type ResourceShare struct {
	Resource Resource
	Actions  []Action
}

// Target is where a decision is asked: the organization and workspace that
// hold the resource.
type Target struct {
	OrganizationID string
	WorkspaceID    string // "" for control-plane resources of the organization
	Resource       Resource
}

// Allowed decides whether a subject with grants and shares may do action on
// target. Deny by default: nothing allows what no grant or share names.
func Allowed(grants []Grant, shares []ResourceShare, target Target, action Action) bool {
	for _, g := range grants {
		if !g.covers(target) {
			continue
		}
		if g.Permissions.Allows(target.Resource.Type, action) {
			return true
		}
	}
	if target.Resource.ID != "" {
		for _, s := range shares {
			if s.Resource.Type == target.Resource.Type && s.Resource.ID == target.Resource.ID && slices.Contains(s.Actions, action) {
				return true
			}
		}
	}
	return false
}

func (g Grant) covers(t Target) bool {
	switch g.Scope {
	case ScopeOrganization:
		return g.ScopeID != "" && g.ScopeID == t.OrganizationID
	case ScopeWorkspace:
		return t.WorkspaceID != "" && g.ScopeID == t.WorkspaceID
	case ScopeProject:
		return t.WorkspaceID != "" && t.Resource.Project != "" && g.ScopeID == t.Resource.Project
	}
	return false
}

// FullAccess reports whether grants allow action on every resource of type t
// in target's workspace (a project-scoped grant covers only its project).
func FullAccess(grants []Grant, target Target, t ResourceType, action Action) bool {
	for _, g := range grants {
		if g.Scope == ScopeProject {
			continue
		}
		tt := target
		tt.Resource = Resource{Type: t}
		if g.covers(tt) && g.Permissions.Allows(t, action) {
			return true
		}
	}
	return false
}
