package workspace

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// ---- projects

var projectSpec = &listSpec{table: "projects", fields: baseFields(map[string]field{
	"name":         {col: "name", kind: kString},
	"display_name": {col: "display_name", kind: kString},
})}

func scanProject(rows *sql.Rows) (string, client.Project, error) {
	var p client.Project
	var md client.ProjectMetadata
	var created, updated int64
	err := rows.Scan(&p.ID, &p.Name, &p.Body.DisplayName, &md.Description, &created, &updated)
	p.Body.Created, p.Body.Updated = wireTime(created), wireTime(updated)
	p.Metadata, p.Resources = &md, &client.NoResources{}
	return p.ID, p, err
}

func (s *Store) getProjects(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.Project, error) {
	ps, err := byIDs(ctx, q, "id, name, display_name, description, created, updated", "projects", ids, scanProject)
	if !hydrate {
		for i := range ps {
			ps[i].Metadata = nil
		}
	}
	return ps, err
}

func (s *Store) Project(ctx context.Context, ref string, hydrate bool) (client.Project, error) {
	id, err := s.ref(ctx, s.db, "projects", "project", ref, "")
	if err != nil {
		return client.Project{}, err
	}
	return one(ctx, s.db, id, "project", hydrate, s.getProjects)
}

// ProjectID resolves a project name or id.
func (s *Store) ProjectID(ctx context.Context, ref string) (string, error) {
	return s.ref(ctx, s.db, "projects", "project", ref, "")
}

func (s *Store) ListProjects(ctx context.Context, lq *listQuery) (client.Page[client.Project], error) {
	return pageOf(ctx, s, projectSpec, lq, s.getProjects)
}

func (s *Store) CreateProject(ctx context.Context, r client.ProjectRequest) (client.Project, error) {
	id, now := s.idFunc(), s.now()
	if r.DisplayName == "" {
		r.DisplayName = r.Name
	}
	_, err := s.db.Exec(ctx, "INSERT INTO projects (id, name, display_name, description, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
		id, r.Name, r.DisplayName, r.Description, now, now)
	if err != nil {
		return client.Project{}, writeErr(err, "project")
	}
	return s.Project(ctx, id, true)
}

func (s *Store) UpdateProject(ctx context.Context, id string, u client.ProjectUpdate) (client.Project, error) {
	sets := updates{}
	sets.add(u.Name != nil, "name", u.Name)
	sets.add(u.DisplayName != nil, "display_name", u.DisplayName)
	sets.add(u.Description != nil, "description", u.Description)
	if err := s.update(ctx, s.db, "projects", "project", id, sets); err != nil {
		return client.Project{}, err
	}
	return s.Project(ctx, id, true)
}

// DeleteProject removes an empty project; one that still holds pipelines,
// runs, artifacts or models is refused.
func (s *Store) DeleteProject(ctx context.Context, id string) error {
	return s.deleteRow(ctx, s.db, "projects", "project", id)
}

// updates collects "col = ?" assignments of a partial update.
type updates struct {
	cols []string
	args []any
}

func (u *updates) add(ok bool, col string, v any) {
	if !ok {
		return
	}
	if p, isPtr := v.(*string); isPtr {
		v = *p
	}
	if p, isPtr := v.(*bool); isPtr {
		v = *p
	}
	u.cols = append(u.cols, col+" = ?")
	u.args = append(u.args, v)
}

// update applies sets to row id of table and bumps its updated time.
func (s *Store) update(ctx context.Context, q sqldb.Querier, table, what, id string, u updates) error {
	if !validID(id) {
		return errs.E(errs.NotFound, "%s %s not found", what, id)
	}
	cols := append(slices.Clone(u.cols), "updated = ?")
	args := append(slices.Clone(u.args), s.now(), id)
	res, err := q.Exec(ctx, "UPDATE "+table+" SET "+strings.Join(cols, ", ")+" WHERE id = ?", args...)
	if err != nil {
		return writeErr(err, what)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// MySQL counts only changed rows; tell "missing" from "unchanged".
		var one int
		if err := q.QueryRow(ctx, "SELECT 1 FROM "+table+" WHERE id = ?", id).Scan(&one); err != nil {
			return notFound(err, what, id)
		}
	}
	return nil
}

func (s *Store) deleteRow(ctx context.Context, q sqldb.Querier, table, what, id string) error {
	if !validID(id) {
		return errs.E(errs.NotFound, "%s %s not found", what, id)
	}
	res, err := q.Exec(ctx, "DELETE FROM "+table+" WHERE id = ?", id)
	if err != nil {
		if sqldb.IsForeignKeyViolation(err) {
			return errs.Wrap(errs.Conflict, err, "the %s is still in use", what)
		}
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.E(errs.NotFound, "%s %s not found", what, id)
	}
	return nil
}

// ---- stack components

var componentSpec = &listSpec{table: "stack_components", fields: baseFields(map[string]field{
	"name":    {col: "name", kind: kString, sort: true},
	"type":    {col: "type", kind: kString, enum: componentTypes},
	"flavor":  {col: "flavor", kind: kString, sort: true},
	"user_id": {col: "user_id", kind: kID},
}), params: []string{"user", "stack_id"}}

var componentTypes = []string{"orchestrator", "artifact_store", "container_registry", "step_operator",
	"model_deployer", "experiment_tracker", "alerter", "annotator", "data_validator", "feature_store",
	"image_builder", "model_registry", "deployer", "log_store"}

const componentCols = "id, name, type, flavor, configuration, labels, user_id, created, updated"

func scanComponent(rows *sql.Rows) (string, client.Component, error) {
	var c client.Component
	var conf, labels string
	var user sql.NullString
	var created, updated int64
	err := rows.Scan(&c.ID, &c.Name, &c.Body.Type, &c.Body.FlavorName, &conf, &labels, &user, &created, &updated)
	c.Body.Created, c.Body.Updated, c.Body.UserID = wireTime(created), wireTime(updated), user.String
	c.Metadata = &client.ComponentMetadata{Configuration: decodeMap(conf), Labels: decodeMap(labels)}
	c.Resources = &client.NoResources{}
	return c.ID, c, err
}

func (s *Store) getComponents(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.Component, error) {
	cs, err := byIDs(ctx, q, componentCols, "stack_components", ids, scanComponent)
	if !hydrate {
		for i := range cs {
			cs[i].Metadata = nil
		}
	}
	return cs, err
}

func (s *Store) Component(ctx context.Context, id string, hydrate bool) (client.Component, error) {
	return one(ctx, s.db, id, "stack component", hydrate, s.getComponents)
}

func (s *Store) ListComponents(ctx context.Context, lq *listQuery) (client.Page[client.Component], error) {
	if st := lq.params.Get("stack_id"); st != "" {
		lq.addScope("id IN (SELECT component_id FROM stack_composition WHERE stack_id = ?)", st)
	}
	return pageOf(ctx, s, componentSpec, lq, s.getComponents)
}

func (s *Store) CreateComponent(ctx context.Context, userID string, r client.ComponentRequest) (client.Component, error) {
	var n int
	if err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM flavors WHERE type = ? AND name = ?", r.Type, r.Flavor).Scan(&n); err != nil {
		return client.Component{}, err
	}
	if n == 0 {
		return client.Component{}, errs.E(errs.NotFound, "no %s flavor %q: register the flavor first", r.Type, r.Flavor)
	}
	id, now := s.idFunc(), s.now()
	_, err := s.db.Exec(ctx, "INSERT INTO stack_components ("+componentCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		id, r.Name, r.Type, r.Flavor, jsonText(r.Configuration), jsonText(r.Labels), userID, now, now)
	if err != nil {
		return client.Component{}, writeErr(err, r.Type)
	}
	return s.Component(ctx, id, true)
}

func (s *Store) UpdateComponent(ctx context.Context, id string, u client.ComponentUpdate) (client.Component, error) {
	sets := updates{}
	sets.add(u.Name != nil, "name", u.Name)
	sets.add(u.Configuration != nil, "configuration", jsonText(u.Configuration))
	sets.add(u.Labels != nil, "labels", jsonText(u.Labels))
	if err := s.update(ctx, s.db, "stack_components", "stack component", id, sets); err != nil {
		return client.Component{}, err
	}
	return s.Component(ctx, id, true)
}

func (s *Store) DeleteComponent(ctx context.Context, id string) error {
	return s.deleteRow(ctx, s.db, "stack_components", "stack component", id)
}

// ---- flavors

var flavorSpec = &listSpec{table: "flavors", fields: baseFields(map[string]field{
	"name":        {col: "name", kind: kString, sort: true},
	"type":        {col: "type", kind: kString, enum: componentTypes},
	"integration": {col: "integration", kind: kString},
})}

const flavorCols = "id, name, type, source, integration, logo_url, config_schema, user_id, created, updated"

func scanFlavor(rows *sql.Rows) (string, client.Flavor, error) {
	var f client.Flavor
	var schema string
	var user sql.NullString
	var created, updated int64
	err := rows.Scan(&f.ID, &f.Name, &f.Body.Type, &f.Body.Source, &f.Body.Integration, &f.Body.LogoURL, &schema, &user, &created, &updated)
	f.Body.Created, f.Body.Updated, f.Body.UserID = wireTime(created), wireTime(updated), user.String
	f.Metadata, f.Resources = &client.FlavorMetadata{ConfigSchema: decodeMap(schema)}, &client.NoResources{}
	return f.ID, f, err
}

func (s *Store) getFlavors(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.Flavor, error) {
	fs, err := byIDs(ctx, q, flavorCols, "flavors", ids, scanFlavor)
	if !hydrate {
		for i := range fs {
			fs[i].Metadata = nil
		}
	}
	return fs, err
}

func (s *Store) Flavor(ctx context.Context, id string, hydrate bool) (client.Flavor, error) {
	return one(ctx, s.db, id, "flavor", hydrate, s.getFlavors)
}

func (s *Store) ListFlavors(ctx context.Context, lq *listQuery) (client.Page[client.Flavor], error) {
	return pageOf(ctx, s, flavorSpec, lq, s.getFlavors)
}

func (s *Store) CreateFlavor(ctx context.Context, userID string, r client.FlavorRequest) (client.Flavor, error) {
	id, now := s.idFunc(), s.now()
	_, err := s.db.Exec(ctx, "INSERT INTO flavors ("+flavorCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		id, r.Name, r.Type, r.Source, r.Integration, r.LogoURL, jsonText(r.ConfigSchema), emptyNull(userID), now, now)
	if err != nil {
		return client.Flavor{}, writeErr(err, "flavor")
	}
	return s.Flavor(ctx, id, true)
}

func (s *Store) DeleteFlavor(ctx context.Context, id string) error {
	f, err := s.Flavor(ctx, id, false)
	if err != nil {
		return err
	}
	var n int
	if err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM stack_components WHERE type = ? AND flavor = ?", f.Body.Type, f.Name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errs.E(errs.Conflict, "flavor %s is used by %d stack components", f.Name, n)
	}
	return s.deleteRow(ctx, s.db, "flavors", "flavor", id)
}

// builtinFlavors are registered at start when missing.
var builtinFlavors = []client.FlavorRequest{
	{Name: "local", Type: "orchestrator", Source: "zenml.orchestrators.LocalOrchestratorFlavor", Integration: "built-in"},
	{Name: "kubernetes", Type: "orchestrator", Source: "zenml.integrations.kubernetes.flavors.KubernetesOrchestratorFlavor", Integration: "kubernetes"},
	{Name: "local", Type: "artifact_store", Source: "zenml.artifact_stores.LocalArtifactStoreFlavor", Integration: "built-in"},
	{Name: "s3", Type: "artifact_store", Source: "zenml.integrations.s3.flavors.S3ArtifactStoreFlavor", Integration: "s3"},
	{Name: "default", Type: "container_registry", Source: "zenml.container_registries.DefaultContainerRegistryFlavor", Integration: "built-in"},
	{Name: "local", Type: "image_builder", Source: "zenml.image_builders.LocalImageBuilderFlavor", Integration: "built-in"},
	{Name: "kaniko", Type: "image_builder", Source: "zenml.integrations.kaniko.flavors.KanikoImageBuilderFlavor", Integration: "kaniko"},
}

// rawObject checks that b, when given, is a JSON object.
func rawObject(b json.RawMessage) bool {
	if len(b) == 0 || string(b) == "null" {
		return true
	}
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil
}

// taggedTable names a table whose rows carry tags: the table, what a row is
// called in errors, and the tags' resource type.
type taggedTable struct{ table, what, tagType string }

var (
	artifactsTable        = taggedTable{"artifacts", "artifact", tagArtifact}
	artifactVersionsTable = taggedTable{"artifact_versions", "artifact version", tagArtifactVersion}
	modelsTable           = taggedTable{"models", "model", tagModel}
	modelVersionsTable    = taggedTable{"model_versions", "model version", tagModelVersion}
	pipelinesTable        = taggedTable{"pipelines", "pipeline", tagPipeline}
	snapshotsTable        = taggedTable{"pipeline_snapshots", "snapshot", tagSnapshot}
	runsTable             = taggedTable{"pipeline_runs", "pipeline run", tagRun}
)

// updateTaggedTx applies sets to row id of t and adds and removes its tags,
// within tx.
func (s *Store) updateTaggedTx(ctx context.Context, tx sqldb.Querier, t taggedTable, userID, id string, sets updates, add, remove []string) error {
	if err := s.update(ctx, tx, t.table, t.what, id, sets); err != nil {
		return err
	}
	return s.setTags(ctx, tx, t.tagType, id, userID, add, remove)
}

// updateTagged is updateTaggedTx in a transaction of its own, and then reads
// the row back, hydrated, with get.
func updateTagged[T any](ctx context.Context, s *Store, t taggedTable, userID, id string, sets updates, add, remove []string,
	get func(context.Context, string, bool) (T, error)) (T, error) {
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error { return s.updateTaggedTx(ctx, tx, t, userID, id, sets, add, remove) })
	if err != nil {
		var zero T
		return zero, err
	}
	return get(ctx, id, true)
}

// deleteTagged removes row id of t, with its tags and metadata, in one
// transaction; each of the statements in first runs before, given id.
func (s *Store) deleteTagged(ctx context.Context, t taggedTable, id string, first ...string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error { return s.deleteTaggedTx(ctx, tx, t, id, first...) })
}

func (s *Store) deleteTaggedTx(ctx context.Context, tx *sqldb.Tx, t taggedTable, id string, first ...string) error {
	for _, q := range first {
		if _, err := tx.Exec(ctx, q, id); err != nil {
			return err
		}
	}
	if err := s.deleteRow(ctx, tx, t.table, t.what, id); err != nil {
		return err
	}
	return forgetResource(ctx, tx, t.tagType, id)
}
