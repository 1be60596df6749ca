package controlplane

import "github.com/enclave-mlops/enclave/internal/sqldb"

// versionTable tracks the control plane's schema.
const versionTable = "cp_schema_migrations"

// migrations are forward-only; never edit one that has shipped, add another.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "initial schema", SQL: `
CREATE TABLE cp_signing_keys (
	id VARCHAR(64) PRIMARY KEY,
	seed VARCHAR(64) NOT NULL,
	created BIGINT NOT NULL
);
CREATE TABLE cp_users (
	id VARCHAR(36) PRIMARY KEY,
	username VARCHAR(100) NOT NULL,
	email VARCHAR(255) NOT NULL DEFAULT '',
	full_name VARCHAR(255) NOT NULL DEFAULT '',
	password_hash VARCHAR(255) NOT NULL DEFAULT '',
	is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
	is_service_account BOOLEAN NOT NULL DEFAULT FALSE,
	active BOOLEAN NOT NULL DEFAULT TRUE,
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX cp_users_username ON cp_users (username);
CREATE TABLE cp_organizations (
	id VARCHAR(36) PRIMARY KEY,
	name VARCHAR(100) NOT NULL,
	description VARCHAR(1000) NOT NULL DEFAULT '',
	created_by VARCHAR(36) NOT NULL DEFAULT '',
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX cp_organizations_name ON cp_organizations (name);
CREATE TABLE cp_org_members (
	org_id VARCHAR(36) NOT NULL REFERENCES cp_organizations (id) ON DELETE CASCADE,
	user_id VARCHAR(36) NOT NULL REFERENCES cp_users (id) ON DELETE CASCADE,
	created BIGINT NOT NULL,
	PRIMARY KEY (org_id, user_id)
);
CREATE INDEX cp_org_members_user ON cp_org_members (user_id);
CREATE TABLE cp_teams (
	id VARCHAR(36) PRIMARY KEY,
	org_id VARCHAR(36) NOT NULL REFERENCES cp_organizations (id) ON DELETE CASCADE,
	name VARCHAR(100) NOT NULL,
	description VARCHAR(1000) NOT NULL DEFAULT '',
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX cp_teams_org_name ON cp_teams (org_id, name);
CREATE TABLE cp_team_members (
	team_id VARCHAR(36) NOT NULL REFERENCES cp_teams (id) ON DELETE CASCADE,
	user_id VARCHAR(36) NOT NULL REFERENCES cp_users (id) ON DELETE CASCADE,
	created BIGINT NOT NULL,
	PRIMARY KEY (team_id, user_id)
);
CREATE INDEX cp_team_members_user ON cp_team_members (user_id);
CREATE TABLE cp_roles (
	id VARCHAR(36) PRIMARY KEY,
	org_id VARCHAR(36) NOT NULL REFERENCES cp_organizations (id) ON DELETE CASCADE,
	name VARCHAR(100) NOT NULL,
	description VARCHAR(1000) NOT NULL DEFAULT '',
	permissions BLOBTEXT NOT NULL,
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX cp_roles_org_name ON cp_roles (org_id, name);
CREATE TABLE cp_workspaces (
	id VARCHAR(36) PRIMARY KEY,
	org_id VARCHAR(36) NOT NULL REFERENCES cp_organizations (id),
	name VARCHAR(50) NOT NULL,
	description VARCHAR(1000) NOT NULL DEFAULT '',
	enrollment_key_hash VARCHAR(255) NOT NULL DEFAULT '',
	status_version VARCHAR(100) NOT NULL DEFAULT '',
	status_url VARCHAR(1000) NOT NULL DEFAULT '',
	status_health VARCHAR(100) NOT NULL DEFAULT '',
	status_database VARCHAR(100) NOT NULL DEFAULT '',
	last_seen BIGINT NOT NULL DEFAULT 0,
	created_by VARCHAR(36) NOT NULL DEFAULT '',
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX cp_workspaces_name ON cp_workspaces (name);
CREATE INDEX cp_workspaces_org ON cp_workspaces (org_id);
CREATE TABLE cp_role_assignments (
	id VARCHAR(36) PRIMARY KEY,
	org_id VARCHAR(36) NOT NULL REFERENCES cp_organizations (id) ON DELETE CASCADE,
	subject_type VARCHAR(10) NOT NULL,
	subject_id VARCHAR(36) NOT NULL,
	role VARCHAR(100) NOT NULL,
	scope VARCHAR(20) NOT NULL,
	scope_id VARCHAR(64) NOT NULL,
	workspace_id VARCHAR(36) NOT NULL DEFAULT '',
	created BIGINT NOT NULL
);
CREATE UNIQUE INDEX cp_role_assignments_unique ON cp_role_assignments (org_id, subject_type, subject_id, scope, scope_id, role);
CREATE INDEX cp_role_assignments_subject ON cp_role_assignments (subject_id);
CREATE TABLE cp_shares (
	id VARCHAR(36) PRIMARY KEY,
	workspace_id VARCHAR(36) NOT NULL REFERENCES cp_workspaces (id) ON DELETE CASCADE,
	resource VARCHAR(200) NOT NULL,
	subject_type VARCHAR(10) NOT NULL,
	subject_id VARCHAR(36) NOT NULL,
	actions VARCHAR(500) NOT NULL,
	shared_by VARCHAR(36) NOT NULL DEFAULT '',
	created BIGINT NOT NULL
);
CREATE UNIQUE INDEX cp_shares_unique ON cp_shares (workspace_id, resource, subject_type, subject_id);
CREATE INDEX cp_shares_subject ON cp_shares (subject_id);
CREATE TABLE cp_api_keys (
	id VARCHAR(36) PRIMARY KEY,
	user_id VARCHAR(36) NOT NULL REFERENCES cp_users (id) ON DELETE CASCADE,
	name VARCHAR(100) NOT NULL,
	key_hash VARCHAR(255) NOT NULL,
	active BOOLEAN NOT NULL DEFAULT TRUE,
	last_used BIGINT NOT NULL DEFAULT 0,
	created BIGINT NOT NULL
);
CREATE UNIQUE INDEX cp_api_keys_user_name ON cp_api_keys (user_id, name);
CREATE TABLE cp_invitations (
	id VARCHAR(36) PRIMARY KEY,
	org_id VARCHAR(36) NOT NULL REFERENCES cp_organizations (id) ON DELETE CASCADE,
	email VARCHAR(255) NOT NULL,
	role VARCHAR(100) NOT NULL,
	token_hash VARCHAR(255) NOT NULL,
	invited_by VARCHAR(36) NOT NULL DEFAULT '',
	expires BIGINT NOT NULL,
	accepted_by VARCHAR(36) NOT NULL DEFAULT '',
	created BIGINT NOT NULL
);
CREATE INDEX cp_invitations_org ON cp_invitations (org_id);
CREATE TABLE cp_revoked_tokens (
	jti VARCHAR(64) PRIMARY KEY,
	expires BIGINT NOT NULL
)`},
}

// Schema describes the control plane's store for `enclave backup` and
// `enclave restore`; tables come after those they refer to.
func Schema() sqldb.Schema {
	return sqldb.Schema{
		Name: "controlplane", VersionTable: versionTable, Migrations: migrations,
		Tables: []string{"cp_signing_keys", "cp_users", "cp_organizations", "cp_org_members", "cp_teams",
			"cp_team_members", "cp_roles", "cp_workspaces", "cp_role_assignments", "cp_shares",
			"cp_api_keys", "cp_invitations", "cp_revoked_tokens"},
	}
}
