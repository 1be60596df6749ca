package workspace

import "github.com/enclave-mlops/enclave/internal/sqldb"

// versionTable records the schema version of a workspace store.
const versionTable = "ws_schema_version"

// storeTables lists the store's tables in an order where every table comes
// after those it refers to: backups dump and restore in this order.
var storeTables = []string{
	"ws_settings", "users", "api_keys", "projects", "flavors", "stack_components", "stacks",
	"stack_composition", "pipelines", "pipeline_snapshots", "pipeline_runs", "step_runs",
	"step_run_parents", "artifacts", "artifact_versions", "step_run_artifacts", "models",
	"model_versions", "secrets", "tags", "tag_resources", "run_metadata", "code_repositories",
	"doc_changes",
}

// migrations is the schema, step by step. Never edit a released step: add
// one. Every column a list can filter or sort by has an index of that column
// and then id, the tie-breaker of every ORDER BY, so that a page is read
// from the index rather than sorted.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "initial schema", SQL: `
CREATE TABLE ws_settings (name VARCHAR(100) PRIMARY KEY, value BLOBTEXT NOT NULL);

CREATE TABLE users (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, full_name VARCHAR(255) NOT NULL,
  email VARCHAR(255) NOT NULL, password_hash VARCHAR(255) NOT NULL, is_admin BOOLEAN NOT NULL,
  active BOOLEAN NOT NULL, is_service_account BOOLEAN NOT NULL, external_user_id VARCHAR(64),
  description BLOBTEXT NOT NULL, created BIGINT NOT NULL, updated BIGINT NOT NULL);
CREATE UNIQUE INDEX users_name ON users (name);
CREATE UNIQUE INDEX users_external ON users (external_user_id);
CREATE INDEX users_created ON users (created, id);

CREATE TABLE api_keys (
  id VARCHAR(36) PRIMARY KEY, service_account_id VARCHAR(36) NOT NULL, name VARCHAR(255) NOT NULL,
  description BLOBTEXT NOT NULL, key_hash VARCHAR(255) NOT NULL, active BOOLEAN NOT NULL,
  last_login BIGINT, last_rotated BIGINT, created BIGINT NOT NULL, updated BIGINT NOT NULL,
  FOREIGN KEY (service_account_id) REFERENCES users (id) ON DELETE CASCADE);
CREATE UNIQUE INDEX api_keys_name ON api_keys (service_account_id, name);

CREATE TABLE projects (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, display_name VARCHAR(255) NOT NULL,
  description BLOBTEXT NOT NULL, created BIGINT NOT NULL, updated BIGINT NOT NULL);
CREATE UNIQUE INDEX projects_name ON projects (name);
CREATE INDEX projects_created ON projects (created, id);

CREATE TABLE flavors (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, type VARCHAR(64) NOT NULL,
  source BLOBTEXT NOT NULL, integration VARCHAR(255) NOT NULL, logo_url BLOBTEXT NOT NULL,
  config_schema BLOBTEXT NOT NULL, user_id VARCHAR(36), created BIGINT NOT NULL, updated BIGINT NOT NULL);
CREATE UNIQUE INDEX flavors_type_name ON flavors (type, name);
CREATE INDEX flavors_name ON flavors (name, id);
CREATE INDEX flavors_created ON flavors (created, id);

CREATE TABLE stack_components (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, type VARCHAR(64) NOT NULL,
  flavor VARCHAR(255) NOT NULL, configuration BLOBTEXT NOT NULL, labels BLOBTEXT NOT NULL,
  user_id VARCHAR(36), created BIGINT NOT NULL, updated BIGINT NOT NULL);
CREATE UNIQUE INDEX components_type_name ON stack_components (type, name);
CREATE INDEX components_name ON stack_components (name, id);
CREATE INDEX components_flavor ON stack_components (flavor, id);
CREATE INDEX components_created ON stack_components (created, id);
CREATE INDEX components_user ON stack_components (user_id, created, id);

CREATE TABLE stacks (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, description BLOBTEXT NOT NULL,
  user_id VARCHAR(36), created BIGINT NOT NULL, updated BIGINT NOT NULL);
CREATE UNIQUE INDEX stacks_name ON stacks (name);
CREATE INDEX stacks_created ON stacks (created, id);
CREATE INDEX stacks_user ON stacks (user_id, created, id);

CREATE TABLE stack_composition (
  stack_id VARCHAR(36) NOT NULL, component_id VARCHAR(36) NOT NULL,
  PRIMARY KEY (stack_id, component_id),
  FOREIGN KEY (stack_id) REFERENCES stacks (id) ON DELETE CASCADE,
  FOREIGN KEY (component_id) REFERENCES stack_components (id));
CREATE INDEX stack_composition_component ON stack_composition (component_id);

CREATE TABLE pipelines (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, project_id VARCHAR(36) NOT NULL,
  user_id VARCHAR(36), description BLOBTEXT NOT NULL, run_count BIGINT NOT NULL,
  created BIGINT NOT NULL, updated BIGINT NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects (id));
CREATE UNIQUE INDEX pipelines_project_name ON pipelines (project_id, name);
CREATE INDEX pipelines_name ON pipelines (name, id);
CREATE INDEX pipelines_created ON pipelines (created, id);
CREATE INDEX pipelines_project_created ON pipelines (project_id, created, id);
CREATE INDEX pipelines_user ON pipelines (user_id, created, id);

CREATE TABLE pipeline_snapshots (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255), description BLOBTEXT NOT NULL,
  project_id VARCHAR(36) NOT NULL, user_id VARCHAR(36), pipeline_id VARCHAR(36), stack_id VARCHAR(36),
  build_id VARCHAR(36), schedule_id VARCHAR(36), run_name_template BLOBTEXT NOT NULL,
  pipeline_configuration BLOBTEXT NOT NULL, step_configurations BLOBTEXT NOT NULL,
  pipeline_spec BLOBTEXT NOT NULL, client_version VARCHAR(64) NOT NULL,
  server_version VARCHAR(64) NOT NULL, runnable BOOLEAN NOT NULL,
  created BIGINT NOT NULL, updated BIGINT NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects (id),
  FOREIGN KEY (pipeline_id) REFERENCES pipelines (id) ON DELETE SET NULL,
  FOREIGN KEY (stack_id) REFERENCES stacks (id) ON DELETE SET NULL);
CREATE UNIQUE INDEX snapshots_project_name ON pipeline_snapshots (project_id, name);
CREATE INDEX snapshots_created ON pipeline_snapshots (created, id);
CREATE INDEX snapshots_project_created ON pipeline_snapshots (project_id, created, id);
CREATE INDEX snapshots_pipeline ON pipeline_snapshots (pipeline_id, created, id);
CREATE INDEX snapshots_stack ON pipeline_snapshots (stack_id, created, id);
CREATE INDEX snapshots_user ON pipeline_snapshots (user_id, created, id);

CREATE TABLE pipeline_runs (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, project_id VARCHAR(36) NOT NULL,
  user_id VARCHAR(36), snapshot_id VARCHAR(36) NOT NULL, pipeline_id VARCHAR(36), stack_id VARCHAR(36),
  status VARCHAR(32) NOT NULL, orchestrator_run_id VARCHAR(255), run_index BIGINT NOT NULL,
  start_time BIGINT, end_time BIGINT, created BIGINT NOT NULL, updated BIGINT NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects (id),
  FOREIGN KEY (snapshot_id) REFERENCES pipeline_snapshots (id),
  FOREIGN KEY (pipeline_id) REFERENCES pipelines (id) ON DELETE SET NULL,
  FOREIGN KEY (stack_id) REFERENCES stacks (id) ON DELETE SET NULL);
CREATE UNIQUE INDEX runs_project_name ON pipeline_runs (project_id, name);
CREATE INDEX runs_name ON pipeline_runs (name, id);
CREATE INDEX runs_created ON pipeline_runs (created, id);
CREATE INDEX runs_updated ON pipeline_runs (updated, id);
CREATE INDEX runs_project_created ON pipeline_runs (project_id, created, id);
CREATE INDEX runs_pipeline_created ON pipeline_runs (pipeline_id, created, id);
CREATE INDEX runs_pipeline_index ON pipeline_runs (pipeline_id, run_index);
CREATE INDEX runs_snapshot ON pipeline_runs (snapshot_id, created, id);
CREATE INDEX runs_stack ON pipeline_runs (stack_id, created, id);
CREATE INDEX runs_user ON pipeline_runs (user_id, created, id);
CREATE INDEX runs_status ON pipeline_runs (status, created, id);
CREATE INDEX runs_start ON pipeline_runs (start_time, id);
CREATE INDEX runs_end ON pipeline_runs (end_time, id);
CREATE INDEX runs_orchestrator ON pipeline_runs (orchestrator_run_id, id);

CREATE TABLE step_runs (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, pipeline_run_id VARCHAR(36) NOT NULL,
  project_id VARCHAR(36) NOT NULL, user_id VARCHAR(36), status VARCHAR(32) NOT NULL,
  start_time BIGINT, end_time BIGINT, cache_key VARCHAR(255) NOT NULL, code_hash VARCHAR(255) NOT NULL,
  config BLOBTEXT NOT NULL, spec BLOBTEXT NOT NULL, logs_uri BLOBTEXT NOT NULL,
  created BIGINT NOT NULL, updated BIGINT NOT NULL,
  FOREIGN KEY (pipeline_run_id) REFERENCES pipeline_runs (id) ON DELETE CASCADE,
  FOREIGN KEY (project_id) REFERENCES projects (id));
CREATE UNIQUE INDEX steps_run_name ON step_runs (pipeline_run_id, name);
CREATE INDEX steps_run_created ON step_runs (pipeline_run_id, created, id);
CREATE INDEX steps_name ON step_runs (name, id);
CREATE INDEX steps_created ON step_runs (created, id);
CREATE INDEX steps_updated ON step_runs (updated, id);
CREATE INDEX steps_project_created ON step_runs (project_id, created, id);
CREATE INDEX steps_status ON step_runs (status, created, id);
CREATE INDEX steps_cache_key ON step_runs (cache_key, created, id);
CREATE INDEX steps_code_hash ON step_runs (code_hash, id);
CREATE INDEX steps_user ON step_runs (user_id, created, id);
CREATE INDEX steps_start ON step_runs (start_time, id);
CREATE INDEX steps_end ON step_runs (end_time, id);

CREATE TABLE step_run_parents (
  step_id VARCHAR(36) NOT NULL, parent_id VARCHAR(36) NOT NULL, PRIMARY KEY (step_id, parent_id),
  FOREIGN KEY (step_id) REFERENCES step_runs (id) ON DELETE CASCADE,
  FOREIGN KEY (parent_id) REFERENCES step_runs (id) ON DELETE CASCADE);
CREATE INDEX step_parents_parent ON step_run_parents (parent_id);

CREATE TABLE artifacts (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, project_id VARCHAR(36) NOT NULL,
  user_id VARCHAR(36), has_custom_name BOOLEAN NOT NULL, version_count BIGINT NOT NULL,
  created BIGINT NOT NULL, updated BIGINT NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects (id));
CREATE UNIQUE INDEX artifacts_project_name ON artifacts (project_id, name);
CREATE INDEX artifacts_name ON artifacts (name, id);
CREATE INDEX artifacts_created ON artifacts (created, id);
CREATE INDEX artifacts_project_created ON artifacts (project_id, created, id);
CREATE INDEX artifacts_user ON artifacts (user_id, created, id);

CREATE TABLE artifact_versions (
  id VARCHAR(36) PRIMARY KEY, artifact_id VARCHAR(36) NOT NULL, version VARCHAR(255) NOT NULL,
  project_id VARCHAR(36) NOT NULL, user_id VARCHAR(36), type VARCHAR(64) NOT NULL, uri BLOBTEXT NOT NULL,
  materializer BLOBTEXT NOT NULL, data_type BLOBTEXT NOT NULL, save_type VARCHAR(32) NOT NULL,
  producer_step_run_id VARCHAR(36), producer_pipeline_run_id VARCHAR(36),
  created BIGINT NOT NULL, updated BIGINT NOT NULL,
  FOREIGN KEY (artifact_id) REFERENCES artifacts (id) ON DELETE CASCADE,
  FOREIGN KEY (project_id) REFERENCES projects (id),
  FOREIGN KEY (producer_step_run_id) REFERENCES step_runs (id) ON DELETE SET NULL,
  FOREIGN KEY (producer_pipeline_run_id) REFERENCES pipeline_runs (id) ON DELETE SET NULL);
CREATE UNIQUE INDEX artifact_versions_version ON artifact_versions (artifact_id, version);
CREATE INDEX artifact_versions_artifact_created ON artifact_versions (artifact_id, created, id);
CREATE INDEX artifact_versions_created ON artifact_versions (created, id);
CREATE INDEX artifact_versions_updated ON artifact_versions (updated, id);
CREATE INDEX artifact_versions_project_created ON artifact_versions (project_id, created, id);
CREATE INDEX artifact_versions_type ON artifact_versions (type, created, id);
CREATE INDEX artifact_versions_user ON artifact_versions (user_id, created, id);
CREATE INDEX artifact_versions_producer_run ON artifact_versions (producer_pipeline_run_id, created, id);
CREATE INDEX artifact_versions_producer_step ON artifact_versions (producer_step_run_id);

CREATE TABLE step_run_artifacts (
  step_id VARCHAR(36) NOT NULL, artifact_version_id VARCHAR(36) NOT NULL, name VARCHAR(255) NOT NULL,
  kind VARCHAR(8) NOT NULL, PRIMARY KEY (step_id, kind, name, artifact_version_id),
  FOREIGN KEY (step_id) REFERENCES step_runs (id) ON DELETE CASCADE,
  FOREIGN KEY (artifact_version_id) REFERENCES artifact_versions (id) ON DELETE CASCADE);
CREATE INDEX step_run_artifacts_version ON step_run_artifacts (artifact_version_id, kind);

CREATE TABLE models (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, project_id VARCHAR(36) NOT NULL,
  user_id VARCHAR(36), description BLOBTEXT NOT NULL, license BLOBTEXT NOT NULL,
  audience BLOBTEXT NOT NULL, use_cases BLOBTEXT NOT NULL, limitations BLOBTEXT NOT NULL,
  trade_offs BLOBTEXT NOT NULL, ethics BLOBTEXT NOT NULL, version_count BIGINT NOT NULL,
  created BIGINT NOT NULL, updated BIGINT NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects (id));
CREATE UNIQUE INDEX models_project_name ON models (project_id, name);
CREATE INDEX models_name ON models (name, id);
CREATE INDEX models_created ON models (created, id);
CREATE INDEX models_project_created ON models (project_id, created, id);
CREATE INDEX models_user ON models (user_id, created, id);

CREATE TABLE model_versions (
  id VARCHAR(36) PRIMARY KEY, model_id VARCHAR(36) NOT NULL, name VARCHAR(255) NOT NULL,
  number BIGINT NOT NULL, description BLOBTEXT NOT NULL, stage VARCHAR(32) NOT NULL,
  project_id VARCHAR(36) NOT NULL, user_id VARCHAR(36), created BIGINT NOT NULL, updated BIGINT NOT NULL,
  FOREIGN KEY (model_id) REFERENCES models (id) ON DELETE CASCADE,
  FOREIGN KEY (project_id) REFERENCES projects (id));
CREATE UNIQUE INDEX model_versions_number ON model_versions (model_id, number);
CREATE UNIQUE INDEX model_versions_name ON model_versions (model_id, name);
CREATE INDEX model_versions_model_created ON model_versions (model_id, created, id);
CREATE INDEX model_versions_created ON model_versions (created, id);
CREATE INDEX model_versions_project_created ON model_versions (project_id, created, id);
CREATE INDEX model_versions_stage ON model_versions (stage, created, id);
CREATE INDEX model_versions_user ON model_versions (user_id, created, id);

CREATE TABLE secrets (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, is_private BOOLEAN NOT NULL,
  scope VARCHAR(36) NOT NULL, user_id VARCHAR(36), enc_values BLOBTEXT NOT NULL,
  created BIGINT NOT NULL, updated BIGINT NOT NULL);
CREATE UNIQUE INDEX secrets_scope_name ON secrets (scope, name);
CREATE INDEX secrets_name ON secrets (name, id);
CREATE INDEX secrets_created ON secrets (created, id);
CREATE INDEX secrets_user ON secrets (user_id, created, id);

CREATE TABLE tags (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, color VARCHAR(32) NOT NULL,
  is_exclusive BOOLEAN NOT NULL, user_id VARCHAR(36), created BIGINT NOT NULL, updated BIGINT NOT NULL);
CREATE UNIQUE INDEX tags_name ON tags (name);
CREATE INDEX tags_created ON tags (created, id);
CREATE INDEX tags_color ON tags (color, id);

CREATE TABLE tag_resources (
  tag_id VARCHAR(36) NOT NULL, resource_type VARCHAR(32) NOT NULL, resource_id VARCHAR(36) NOT NULL,
  created BIGINT NOT NULL, PRIMARY KEY (tag_id, resource_type, resource_id),
  FOREIGN KEY (tag_id) REFERENCES tags (id) ON DELETE CASCADE);
CREATE INDEX tag_resources_resource ON tag_resources (resource_type, resource_id);

CREATE TABLE run_metadata (
  resource_type VARCHAR(32) NOT NULL, resource_id VARCHAR(36) NOT NULL, mkey VARCHAR(255) NOT NULL,
  mvalue BLOBTEXT NOT NULL, mtype VARCHAR(32) NOT NULL, publisher_step_id VARCHAR(36),
  user_id VARCHAR(36), created BIGINT NOT NULL,
  PRIMARY KEY (resource_type, resource_id, mkey));
`},
	{Version: 2, Name: "indexes for every filter and sort", SQL: `
CREATE INDEX api_keys_updated ON api_keys (updated, id);
CREATE INDEX artifacts_updated ON artifacts (updated, id);
CREATE INDEX flavors_updated ON flavors (updated, id);
CREATE INDEX model_versions_updated ON model_versions (updated, id);
CREATE INDEX models_updated ON models (updated, id);
CREATE INDEX pipeline_snapshots_updated ON pipeline_snapshots (updated, id);
CREATE INDEX pipelines_updated ON pipelines (updated, id);
CREATE INDEX projects_updated ON projects (updated, id);
CREATE INDEX secrets_updated ON secrets (updated, id);
CREATE INDEX stack_components_updated ON stack_components (updated, id);
CREATE INDEX stacks_updated ON stacks (updated, id);
CREATE INDEX tags_updated ON tags (updated, id);
CREATE INDEX users_updated ON users (updated, id);
CREATE INDEX api_keys_created ON api_keys (created, id);
CREATE INDEX api_keys_name_only ON api_keys (name, id);
CREATE INDEX artifact_versions_save_type ON artifact_versions (save_type, id);
CREATE INDEX artifact_versions_version_only ON artifact_versions (version, id);
CREATE INDEX flavors_integration ON flavors (integration, id);
CREATE INDEX model_versions_name_only ON model_versions (name, id);
CREATE INDEX model_versions_number_only ON model_versions (number, id);
CREATE INDEX runs_index ON pipeline_runs (run_index, id);
CREATE INDEX snapshots_build ON pipeline_snapshots (build_id, id);
CREATE INDEX snapshots_name ON pipeline_snapshots (name, id);
CREATE INDEX snapshots_schedule ON pipeline_snapshots (schedule_id, id);
CREATE INDEX projects_display_name ON projects (display_name, id);
CREATE INDEX tags_user ON tags (user_id, created, id);
CREATE INDEX users_email ON users (email, id);
CREATE INDEX users_full_name ON users (full_name, id);
`},
	{Version: 3, Name: "code repositories", SQL: `
CREATE TABLE code_repositories (
  id VARCHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, project_id VARCHAR(36) NOT NULL,
  user_id VARCHAR(36), source BLOBTEXT NOT NULL, config BLOBTEXT NOT NULL,
  logo_url VARCHAR(2048), description BLOBTEXT,
  created BIGINT NOT NULL, updated BIGINT NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects (id));
CREATE UNIQUE INDEX code_repositories_project_name ON code_repositories (project_id, name);
CREATE INDEX code_repositories_name ON code_repositories (name, id);
CREATE INDEX code_repositories_created ON code_repositories (created, id);
CREATE INDEX code_repositories_updated ON code_repositories (updated, id);
CREATE INDEX code_repositories_project_created ON code_repositories (project_id, created, id);
CREATE INDEX code_repositories_user ON code_repositories (user_id, created, id);
`},
	{Version: 4, Name: "change feed of run documents", SQL: `
CREATE TABLE doc_changes (
  id VARCHAR(36) PRIMARY KEY, resource_id VARCHAR(36) NOT NULL, changed BIGINT NOT NULL);
CREATE INDEX doc_changes_changed ON doc_changes (changed, resource_id);
`},
	// A name filter over runs sorted by creation walks this index and
	// tests every run's name: with the name in the index, it reads no row.
	{Version: 5, Name: "run names in the index of creation", SQL: `
DROP INDEX runs_created;
CREATE INDEX runs_created ON pipeline_runs (created, id, name);
`, Dialects: map[sqldb.Dialect]string{sqldb.MySQL: `
DROP INDEX runs_created ON pipeline_runs;
CREATE INDEX runs_created ON pipeline_runs (created, id, name);
`}},
	// The index of run names' trigrams (see name_search.go). PostgreSQL:
	// pg_trgm where the database allows it, then the index if pg_trgm is
	// there. SQLite: an FTS5 table of the names, kept by triggers, filled
	// from the runs there are (rebuilt, should a restore have left it
	// behind). Each block and trigger is on one line: statements are split
	// at a semicolon that ends a line.
	{Version: 6, Name: "trigram index of run names", Dialects: map[sqldb.Dialect]string{sqldb.Postgres: `
DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS pg_trgm; EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'pg_trgm is not available: %', SQLERRM; END $$;
DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_opclass WHERE opcname = 'gin_trgm_ops' AND pg_opclass_is_visible(oid)) THEN EXECUTE '` + runNameGramsSQL + `'; END IF; END $$;
`, sqldb.SQLite: `
CREATE VIRTUAL TABLE IF NOT EXISTS runs_name_grams USING fts5(name, content='pipeline_runs', content_rowid='rowid', tokenize='trigram');
INSERT INTO runs_name_grams (runs_name_grams) VALUES ('rebuild');
CREATE TRIGGER runs_name_grams_insert AFTER INSERT ON pipeline_runs BEGIN INSERT INTO runs_name_grams (rowid, name) VALUES (new.rowid, new.name); END;
CREATE TRIGGER runs_name_grams_delete AFTER DELETE ON pipeline_runs BEGIN INSERT INTO runs_name_grams (runs_name_grams, rowid, name) VALUES ('delete', old.rowid, old.name); END;
CREATE TRIGGER runs_name_grams_update AFTER UPDATE OF name ON pipeline_runs BEGIN INSERT INTO runs_name_grams (runs_name_grams, rowid, name) VALUES ('delete', old.rowid, old.name); INSERT INTO runs_name_grams (rowid, name) VALUES (new.rowid, new.name); END;
`, sqldb.MySQL: ""}},
	// SQLite: the FTS5 table's rebuild leaves its index in many segments,
	// each of which a search reads; merged into one, a rare fragment took
	// half the time on the bench store (2.5 s at a million runs, once).
	// Runs added later go to small segments that FTS5 merges as it goes.
	{Version: 7, Name: "run names' trigrams merged", Dialects: map[sqldb.Dialect]string{sqldb.SQLite: `
INSERT INTO runs_name_grams (runs_name_grams) VALUES ('optimize');
`, sqldb.Postgres: "", sqldb.MySQL: ""}},
	// PostgreSQL: the pending list of the trigram index merged sooner (see
	// runNameGramsSQL), where the index exists.
	{Version: 8, Name: "trigram index's pending list bounded", Dialects: map[sqldb.Dialect]string{sqldb.Postgres: `
ALTER INDEX IF EXISTS ` + runNameGrams + ` SET (` + gramsPendingLimit + `);
`, sqldb.SQLite: "", sqldb.MySQL: ""}},
}
