package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"sync"
)

// Workspace is a client of a workspace server's API (/api/v1). It is safe
// for concurrent use; a login replaces its token.
type Workspace struct {
	mu    sync.RWMutex
	base  string
	token string
	hc    *http.Client
}

// NewWorkspace returns a client of the server at baseURL (without /api/v1),
// authenticating with token (empty until a login). hc may be nil.
func NewWorkspace(baseURL, token string, hc *http.Client) *Workspace {
	return &Workspace{base: baseURL, token: token, hc: hc}
}

// Token returns the session token in use.
func (w *Workspace) Token() string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.token
}

// SetToken replaces the session token.
func (w *Workspace) SetToken(t string) {
	w.mu.Lock()
	w.token = t
	w.mu.Unlock()
}

func (w *Workspace) http() *HTTP {
	return &HTTP{BaseURL: w.base, Token: w.Token(), Client: w.hc, UserAgent: "enclave-client"}
}

const api = "/api/v1"

// ListOptions page, sort and filter a list. Filters map a field to
// "op:value" (ops: equals, notequals, contains, startswith, endswith, oneof,
// in, gt, gte, lt, lte) or to a plain value for equals. Params carries
// further parameters a list takes (project, user, tag, ...).
type ListOptions struct {
	Page            int
	Size            int
	SortBy          string // "desc:created", "asc:name", "name"
	LogicalOperator string // "and" (default) or "or"
	Hydrate         bool
	Filters         map[string]string
	Project         string // name or id
}

func (o *ListOptions) values() url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	if o.Page > 0 {
		q.Set("page", strconv.Itoa(o.Page))
	}
	if o.Size > 0 {
		q.Set("size", strconv.Itoa(o.Size))
	}
	if o.SortBy != "" {
		q.Set("sort_by", o.SortBy)
	}
	if o.LogicalOperator != "" {
		q.Set("logical_operator", o.LogicalOperator)
	}
	if o.Hydrate {
		q.Set("hydrate", "true")
	}
	if o.Project != "" {
		q.Set("project", o.Project)
	}
	for k, v := range o.Filters {
		q.Set(k, v)
	}
	return q
}

func get[T any](ctx context.Context, w *Workspace, path string, q url.Values) (T, error) {
	var out T
	err := w.http().Do(ctx, http.MethodGet, api+path, q, nil, &out)
	return out, err
}

func list[T any](ctx context.Context, w *Workspace, path string, o *ListOptions) (Page[T], error) {
	return get[Page[T]](ctx, w, path, o.values())
}

func send[T any](ctx context.Context, w *Workspace, method, path string, in any) (T, error) {
	var out T
	err := w.http().Do(ctx, method, api+path, nil, in, &out)
	return out, err
}

func del(ctx context.Context, w *Workspace, path string) error {
	return w.http().Do(ctx, http.MethodDelete, api+path, nil, nil, nil)
}

func hydrated(h bool) url.Values {
	return url.Values{"hydrate": {strconv.FormatBool(h)}}
}

// ---- sessions

func (w *Workspace) login(ctx context.Context, token string, form url.Values) (TokenResponse, error) {
	var tr TokenResponse
	h := w.http()
	h.Token = token
	if err := h.PostForm(ctx, api+"/login", form, &tr); err != nil {
		return tr, err
	}
	w.SetToken(tr.AccessToken)
	return tr, nil
}

// LoginPassword logs in a local user (standalone mode) and keeps the token.
func (w *Workspace) LoginPassword(ctx context.Context, username, password string) (TokenResponse, error) {
	return w.login(ctx, "", url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}})
}

// LoginExternal trades a control-plane token for a session (pro mode).
func (w *Workspace) LoginExternal(ctx context.Context, controlPlaneToken string) (TokenResponse, error) {
	return w.login(ctx, controlPlaneToken, url.Values{"grant_type": {"zenml-external"}})
}

// LoginAPIKey logs in a service account with one of its API keys.
func (w *Workspace) LoginAPIKey(ctx context.Context, key string) (TokenResponse, error) {
	return w.login(ctx, "", url.Values{"grant_type": {"zenml-api-key"}, "password": {key}})
}

// Logout ends the session on the client's side (tokens are stateless).
func (w *Workspace) Logout(ctx context.Context) error {
	err := w.http().PostForm(ctx, api+"/logout", url.Values{}, nil)
	w.SetToken("")
	return err
}

// Info returns the server's description; it needs no login.
func (w *Workspace) Info(ctx context.Context) (ServerInfo, error) {
	return get[ServerInfo](ctx, w, "/info", nil)
}

// Health checks the server's /health probe.
func (w *Workspace) Health(ctx context.Context) error {
	return w.http().Do(ctx, http.MethodGet, "/health", nil, nil, nil)
}

func (w *Workspace) CurrentUser(ctx context.Context) (User, error) {
	return get[User](ctx, w, "/current-user", nil)
}

// Settings returns the server's settings.
func (w *Workspace) Settings(ctx context.Context) (ServerSettings, error) {
	return get[ServerSettings](ctx, w, "/settings", nil)
}

// UpdateSettings changes the server's settings (administrators only).
func (w *Workspace) UpdateSettings(ctx context.Context, u ServerSettingsUpdate) (ServerSettings, error) {
	return send[ServerSettings](ctx, w, http.MethodPut, "/settings", u)
}

// Kinds of token GET /api_token makes.
const (
	TokenGeneric  = "generic"  // the caller's rights, for a while
	TokenWorkload = "workload" // a runner's: one run, until it ends
)

// APIToken asks for a token of the kind tokenType: generic, for expiresIn
// seconds (0: the server's default), or workload, for the run runID.
func (w *Workspace) APIToken(ctx context.Context, tokenType string, expiresIn int, runID string) (string, error) {
	q := url.Values{"token_type": {tokenType}}
	if expiresIn != 0 {
		q.Set("expires_in", strconv.Itoa(expiresIn))
	}
	if runID != "" {
		q.Set("pipeline_run_id", runID)
	}
	return get[string](ctx, w, "/api_token", q)
}

// ---- users, service accounts, API keys

func (w *Workspace) ListUsers(ctx context.Context, o *ListOptions) (Page[User], error) {
	return list[User](ctx, w, "/users", o)
}
func (w *Workspace) CreateUser(ctx context.Context, r UserRequest) (User, error) {
	return send[User](ctx, w, http.MethodPost, "/users", r)
}
func (w *Workspace) GetUser(ctx context.Context, nameOrID string) (User, error) {
	return get[User](ctx, w, "/users/"+url.PathEscape(nameOrID), nil)
}
func (w *Workspace) UpdateUser(ctx context.Context, id string, u UserUpdate) (User, error) {
	return send[User](ctx, w, http.MethodPut, "/users/"+id, u)
}
func (w *Workspace) DeleteUser(ctx context.Context, id string) error {
	return del(ctx, w, "/users/"+id)
}

func (w *Workspace) ListServiceAccounts(ctx context.Context, o *ListOptions) (Page[User], error) {
	return list[User](ctx, w, "/service_accounts", o)
}
func (w *Workspace) CreateServiceAccount(ctx context.Context, r ServiceAccountRequest) (User, error) {
	return send[User](ctx, w, http.MethodPost, "/service_accounts", r)
}
func (w *Workspace) GetServiceAccount(ctx context.Context, id string) (User, error) {
	return get[User](ctx, w, "/service_accounts/"+id, nil)
}
func (w *Workspace) UpdateServiceAccount(ctx context.Context, id string, u ServiceAccountUpdate) (User, error) {
	return send[User](ctx, w, http.MethodPut, "/service_accounts/"+id, u)
}
func (w *Workspace) DeleteServiceAccount(ctx context.Context, id string) error {
	return del(ctx, w, "/service_accounts/"+id)
}
func (w *Workspace) ListAPIKeys(ctx context.Context, serviceAccountID string, o *ListOptions) (Page[APIKey], error) {
	return list[APIKey](ctx, w, "/service_accounts/"+serviceAccountID+"/api_keys", o)
}

// CreateAPIKey returns the key with its secret in Body.Key, shown only here.
func (w *Workspace) CreateAPIKey(ctx context.Context, serviceAccountID string, r APIKeyRequest) (APIKey, error) {
	return send[APIKey](ctx, w, http.MethodPost, "/service_accounts/"+serviceAccountID+"/api_keys", r)
}
func (w *Workspace) RotateAPIKey(ctx context.Context, serviceAccountID, keyID string) (APIKey, error) {
	return send[APIKey](ctx, w, http.MethodPut, "/service_accounts/"+serviceAccountID+"/api_keys/"+keyID+"/rotate", nil)
}
func (w *Workspace) DeleteAPIKey(ctx context.Context, serviceAccountID, keyID string) error {
	return del(ctx, w, "/service_accounts/"+serviceAccountID+"/api_keys/"+keyID)
}

// ---- projects

func (w *Workspace) ListProjects(ctx context.Context, o *ListOptions) (Page[Project], error) {
	return list[Project](ctx, w, "/projects", o)
}
func (w *Workspace) CreateProject(ctx context.Context, r ProjectRequest) (Project, error) {
	return send[Project](ctx, w, http.MethodPost, "/projects", r)
}
func (w *Workspace) GetProject(ctx context.Context, nameOrID string) (Project, error) {
	return get[Project](ctx, w, "/projects/"+url.PathEscape(nameOrID), nil)
}
func (w *Workspace) UpdateProject(ctx context.Context, id string, u ProjectUpdate) (Project, error) {
	return send[Project](ctx, w, http.MethodPut, "/projects/"+id, u)
}
func (w *Workspace) DeleteProject(ctx context.Context, id string) error {
	return del(ctx, w, "/projects/"+id)
}

// ---- stacks, components, flavors

func (w *Workspace) ListStacks(ctx context.Context, o *ListOptions) (Page[Stack], error) {
	return list[Stack](ctx, w, "/stacks", o)
}
func (w *Workspace) CreateStack(ctx context.Context, r StackRequest) (Stack, error) {
	return send[Stack](ctx, w, http.MethodPost, "/stacks", r)
}
func (w *Workspace) GetStack(ctx context.Context, id string, hydrate bool) (Stack, error) {
	return get[Stack](ctx, w, "/stacks/"+id, hydrated(hydrate))
}
func (w *Workspace) UpdateStack(ctx context.Context, id string, u StackUpdate) (Stack, error) {
	return send[Stack](ctx, w, http.MethodPut, "/stacks/"+id, u)
}
func (w *Workspace) DeleteStack(ctx context.Context, id string) error {
	return del(ctx, w, "/stacks/"+id)
}

func (w *Workspace) ListComponents(ctx context.Context, o *ListOptions) (Page[Component], error) {
	return list[Component](ctx, w, "/components", o)
}
func (w *Workspace) CreateComponent(ctx context.Context, r ComponentRequest) (Component, error) {
	return send[Component](ctx, w, http.MethodPost, "/components", r)
}
func (w *Workspace) GetComponent(ctx context.Context, id string, hydrate bool) (Component, error) {
	return get[Component](ctx, w, "/components/"+id, hydrated(hydrate))
}
func (w *Workspace) UpdateComponent(ctx context.Context, id string, u ComponentUpdate) (Component, error) {
	return send[Component](ctx, w, http.MethodPut, "/components/"+id, u)
}
func (w *Workspace) DeleteComponent(ctx context.Context, id string) error {
	return del(ctx, w, "/components/"+id)
}

func (w *Workspace) ListFlavors(ctx context.Context, o *ListOptions) (Page[Flavor], error) {
	return list[Flavor](ctx, w, "/flavors", o)
}
func (w *Workspace) CreateFlavor(ctx context.Context, r FlavorRequest) (Flavor, error) {
	return send[Flavor](ctx, w, http.MethodPost, "/flavors", r)
}
func (w *Workspace) GetFlavor(ctx context.Context, id string) (Flavor, error) {
	return get[Flavor](ctx, w, "/flavors/"+id, nil)
}
func (w *Workspace) DeleteFlavor(ctx context.Context, id string) error {
	return del(ctx, w, "/flavors/"+id)
}
