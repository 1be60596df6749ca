package workspace

import (
	"context"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// The helpers every handler uses: decoding, validation, authorization and
// list parsing. A handler reads as decode → validate → authorize → store →
// answer.

// RBAC resource types of this server.
const (
	rtProject         rbac.ResourceType = "project"
	rtStack           rbac.ResourceType = "stack"
	rtComponent       rbac.ResourceType = "stack_component"
	rtFlavor          rbac.ResourceType = "flavor"
	rtPipeline        rbac.ResourceType = "pipeline"
	rtSnapshot        rbac.ResourceType = "pipeline_snapshot"
	rtRun             rbac.ResourceType = "pipeline_run"
	rtArtifact        rbac.ResourceType = "artifact"
	rtArtifactVersion rbac.ResourceType = "artifact_version"
	rtModel           rbac.ResourceType = "model"
	rtModelVersion    rbac.ResourceType = "model_version"
	rtSecret          rbac.ResourceType = "secret"
	rtTag             rbac.ResourceType = "tag"
	rtRunMetadata     rbac.ResourceType = "run_metadata"
	rtCodeRepository  rbac.ResourceType = "code_repository"
)

func ok(w http.ResponseWriter, v any) error {
	switch v := v.(type) {
	case client.Run:
		writeAppended(w, func(b []byte) []byte { return appendRun(b, &v) })
	case client.Page[client.Run]:
		writeAppended(w, func(b []byte) []byte { return appendPage(b, &v, appendRun) })
	case client.Step:
		writeAppended(w, func(b []byte) []byte { return appendStep(b, &v) })
	case client.Page[client.Step]:
		writeAppended(w, func(b []byte) []byte { return appendPage(b, &v, appendStep) })
	default:
		httpapi.WriteJSON(w, http.StatusOK, v)
	}
	return nil
}

// family is how the handlers of a kind of resource read one and learn
// whose it is: its RBAC type, its store read, and its project (empty for
// resources outside projects) and owner.
type family[T any] struct {
	rt    rbac.ResourceType
	load  func(ctx context.Context, id string, hydrate bool) (T, error)
	owner func(T) (projectID, userID string)
}

// authorized reads the resource id of f and checks that p may do action to
// it.
func (f family[T]) authorized(s *Server, r *http.Request, p *principal, action rbac.Action, id string, hydrate bool) (T, error) {
	v, err := f.load(r.Context(), id, hydrate)
	if err != nil {
		return v, err
	}
	projectID, userID := f.owner(v)
	return v, s.authorize(r.Context(), p, action, f.rt, projectID, id, userID)
}

// inPath reads the resource of f the path names and checks that p may do
// action to it.
func (f family[T]) inPath(s *Server, r *http.Request, p *principal, action rbac.Action, hydrate bool) (T, error) {
	id, err := pathID(r, "id")
	if err != nil {
		var zero T
		return zero, err
	}
	return f.authorized(s, r, p, action, id, hydrate)
}

// getOne answers GET of the resource of f the path names.
func getOne[T any](s *Server, w http.ResponseWriter, r *http.Request, p *principal, f family[T]) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	h, err := hydrate(r)
	if err != nil {
		return err
	}
	v, err := f.authorized(s, r, p, rbac.Read, id, h)
	if err != nil {
		return err
	}
	return ok(w, v)
}

// deleteOne answers DELETE of the resource of f the path names: del
// deletes it, and the decisions kept about it are forgotten.
func deleteOne[T any](s *Server, w http.ResponseWriter, r *http.Request, p *principal, f family[T], del func(ctx context.Context, id string) error) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := f.load(r.Context(), id, false)
	if err != nil {
		return err
	}
	projectID, userID := f.owner(v)
	if err := firstErr(noQuery(r), s.authorize(r.Context(), p, rbac.Delete, f.rt, projectID, id, userID)); err != nil {
		return err
	}
	if err := del(r.Context(), id); err != nil {
		return err
	}
	s.forget(r.Context(), f.rt, projectID, id)
	return ok(w, nil)
}

// decode reads a request's JSON body into v. Fields v does not have are
// ignored, as the original server's models do ("extra" allowed on all of
// them, so that clients and servers of different versions work together):
// its Python SDK sends every field of its request models, nulls included,
// many more than this server reads. Everything else is strict: content
// type, syntax, types, one value, size, no query parameters.
func decode(r *http.Request, v any) error {
	if err := httpapi.QueryOnly(r.URL.Query()); err != nil {
		return err
	}
	return httpapi.DecodeJSONIgnoringUnknown(r, v)
}

// pathID returns the {name} path value, which must be an id.
func pathID(r *http.Request, name string) (string, error) {
	id := r.PathValue(name)
	if !validID(id) {
		return "", errs.E(errs.Invalid, "%q is not an id", id)
	}
	return strings.ToLower(id), nil
}

// hydrate reads the hydrate flag of a single-resource read (default true).
func hydrate(r *http.Request) (bool, error) {
	q := r.URL.Query()
	if err := httpapi.QueryOnly(q, append([]string{"hydrate"}, readFlags...)...); err != nil {
		return false, err
	}
	for _, f := range readFlags {
		if _, err := httpapi.Bool(q, f, false); err != nil {
			return false, err
		}
	}
	return httpapi.Bool(q, "hydrate", true)
}

// readFlags are flags of the original's reads that newer SDKs send and that
// change nothing here, so they are taken (as booleans) and have no effect:
// metadata and resources always come whole, no Python packages are
// recorded, and a run's status is kept current by whoever runs it.
var readFlags = []string{"include_full_metadata", "include_python_packages", "include_resources", "refresh_status"}

// noQuery refuses query parameters where none are meant.
func noQuery(r *http.Request) error { return httpapi.QueryOnly(r.URL.Query()) }

// checkName validates a name: present, at most 255 characters, printable.
func checkName(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return errs.E(errs.Invalid, "%s is required", field)
	}
	return checkText(field, v, 255)
}

// checkText bounds a free text and refuses control characters other than
// white space.
func checkText(field, v string, max int) error {
	if len(v) > max {
		return errs.E(errs.Invalid, "%s is longer than %d bytes", field, max)
	}
	if !utf8.ValidString(v) {
		return errs.E(errs.Invalid, "%s is not valid UTF-8", field)
	}
	for _, r := range v {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return errs.E(errs.Invalid, "%s holds a control character", field)
		}
	}
	return nil
}

func checkOptName(field string, v *string) error {
	if v == nil {
		return nil
	}
	return checkName(field, *v)
}

func checkOptText(field string, v *string, max int) error {
	if v == nil {
		return nil
	}
	return checkText(field, *v, max)
}

func checkTags(field string, tags []string) error {
	if len(tags) > 100 {
		return errs.E(errs.Invalid, "%s: at most 100 tags", field)
	}
	for _, t := range tags {
		if err := checkName(field, t); err != nil {
			return err
		}
	}
	return nil
}

// firstErr returns the first non-nil error: validation reads as a list.
func firstErr(errors ...error) error {
	for _, e := range errors {
		if e != nil {
			return e
		}
	}
	return nil
}

// authorize lets the owner of a resource do anything with it and asks the
// authorizer about everyone else.
func (s *Server) authorize(ctx context.Context, p *principal, action rbac.Action, typ rbac.ResourceType, projectID, id, ownerID string) error {
	if ownerID != "" && ownerID == p.UserID {
		return nil
	}
	res := rbac.Resource{Project: projectID, Type: typ, ID: id}
	allowed, err := s.authz.allowed(ctx, p, action, res)
	if err != nil {
		return err
	}
	if !allowed {
		return errs.E(errs.Forbidden, "you may not %s %s", action, res)
	}
	return nil
}

// requireAdmin guards the operations only admins may do.
func requireAdmin(p *principal) error {
	if !p.Admin {
		return errs.E(errs.Forbidden, "only an admin may do this")
	}
	return nil
}

// forget tells the authority that a deleted resource is gone.
func (s *Server) forget(ctx context.Context, typ rbac.ResourceType, projectID, id string) {
	s.authz.deleted(ctx, rbac.Resource{Project: projectID, Type: typ, ID: id})
}

// listRequest parses a list request of sp and narrows it to what p may
// read of typ: the project and user named in the query, and in pro mode the
// ids the control plane allows plus p's own resources (owned says the table
// has a user_id column).
func (s *Server) listRequest(r *http.Request, p *principal, sp *listSpec, typ rbac.ResourceType, owned bool) (*listQuery, error) {
	ctx := r.Context()
	lq, err := parseList(r.URL.Query(), sp)
	if err != nil {
		return nil, err
	}
	projectID := ""
	if v := lq.params.Get("project"); v != "" {
		if projectID, err = s.store.ProjectID(ctx, v); err != nil {
			return nil, err
		}
		lq.addScope("project_id = ?", projectID)
	}
	if v := lq.params.Get("user"); v != "" {
		u, err := s.store.UserByName(ctx, v)
		if err != nil {
			return nil, err
		}
		lq.addScope("user_id = ?", u.ID)
	}
	if typ == "" {
		return lq, nil
	}
	full, ids, err := s.authz.allowedIDs(ctx, p, rbac.Read, rbac.Resource{Project: projectID, Type: typ})
	if err != nil || full {
		return lq, err
	}
	var parts []string
	var args []any
	if owned {
		parts, args = append(parts, "user_id = ?"), append(args, p.UserID)
	}
	if len(ids) > 0 {
		parts = append(parts, "id IN ("+idMarks(ids)+")")
		args = append(args, idArgs(ids)...)
	}
	if len(parts) == 0 {
		parts = append(parts, "1 = 0")
	}
	lq.addScope(strings.Join(parts, " OR "), args...)
	return lq, nil
}

// projectFor resolves the project of a create request (name or id, the
// default project when empty) and checks that p may create typ in it.
func (s *Server) projectFor(ctx context.Context, p *principal, ref string, typ rbac.ResourceType) (string, error) {
	if ref == "" {
		ref = "default"
	}
	id, err := s.store.ProjectID(ctx, ref)
	if err != nil {
		return "", err
	}
	return id, s.authorize(ctx, p, rbac.Create, typ, id, "", "")
}
