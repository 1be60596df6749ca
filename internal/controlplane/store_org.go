package controlplane

import (
	"context"
	"encoding/json"

	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/rbac"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

const orgCols = "id, name, description, created, updated"

func scanOrg(sc scanner) (Organization, error) {
	var o Organization
	var created, updated int64
	err := sc.Scan(&o.ID, &o.Name, &o.Description, &created, &updated)
	o.Created, o.Updated = sqldb.Time(created), sqldb.Time(updated)
	return o, err
}

// CreateOrganization adds an organization whose creator becomes its Admin.
func (s *Store) CreateOrganization(ctx context.Context, o *Organization, creatorID string) error {
	now := sqldb.Now()
	o.ID = newID()
	o.Created, o.Updated = sqldb.Time(now), sqldb.Time(now)
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO cp_organizations (id, name, description, created_by, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
			o.ID, o.Name, o.Description, creatorID, now, now)
		if err != nil {
			return conflict(err, "an organization named %q exists already", o.Name)
		}
		return addMember(ctx, tx, o.ID, creatorID, rbac.AdminRole)
	})
}

// OrganizationByID returns the organization with id.
func (s *Store) OrganizationByID(ctx context.Context, id string) (Organization, error) {
	o, err := scanOrg(s.db.QueryRow(ctx, "SELECT "+orgCols+" FROM cp_organizations WHERE id = ?", id))
	return o, notFound(err, "organization %s not found", id)
}

// ListOrganizations returns the organizations userID belongs to, or all of
// them when userID is "".
func (s *Store) ListOrganizations(ctx context.Context, userID string) ([]Organization, error) {
	q := "SELECT " + orgCols + " FROM cp_organizations ORDER BY name"
	var args []any
	if userID != "" {
		q = "SELECT o.id, o.name, o.description, o.created, o.updated FROM cp_organizations o JOIN cp_org_members m ON m.org_id = o.id WHERE m.user_id = ? ORDER BY o.name"
		args = append(args, userID)
	}
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Organization{}
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// UpdateOrganization saves name and description.
func (s *Store) UpdateOrganization(ctx context.Context, o Organization) error {
	res, err := s.db.Exec(ctx, "UPDATE cp_organizations SET name = ?, description = ?, updated = ? WHERE id = ?", o.Name, o.Description, sqldb.Now(), o.ID)
	if err != nil {
		return conflict(err, "an organization named %q exists already", o.Name)
	}
	return mustAffect(res, nil, "organization %s not found", o.ID)
}

// DeleteOrganization removes an organization that has no workspaces left.
func (s *Store) DeleteOrganization(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM cp_workspaces WHERE org_id = ?", id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errs.E(errs.Conflict, "the organization still has %d workspace(s): delete them first", n)
		}
		for _, q := range []string{
			"DELETE FROM cp_role_assignments WHERE org_id = ?",
			"DELETE FROM cp_team_members WHERE team_id IN (SELECT id FROM cp_teams WHERE org_id = ?)",
			"DELETE FROM cp_teams WHERE org_id = ?",
			"DELETE FROM cp_roles WHERE org_id = ?",
			"DELETE FROM cp_invitations WHERE org_id = ?",
			"DELETE FROM cp_org_members WHERE org_id = ?",
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		res, err := tx.Exec(ctx, "DELETE FROM cp_organizations WHERE id = ?", id)
		return mustAffect(res, err, "organization %s not found", id)
	})
}

func addMember(ctx context.Context, q sqldb.Querier, orgID, userID, role string) error {
	_, err := q.Exec(ctx, "INSERT INTO cp_org_members (org_id, user_id, created) VALUES (?, ?, ?)", orgID, userID, sqldb.Now())
	if err != nil {
		if sqldb.IsForeignKeyViolation(err) {
			return errs.E(errs.NotFound, "user %s not found", userID)
		}
		return conflict(err, "the user is a member already")
	}
	if role == "" {
		return nil
	}
	return insertAssignment(ctx, q, &Assignment{OrgID: orgID, SubjectType: "user", SubjectID: userID, Role: role, Scope: rbac.ScopeOrganization, ScopeID: orgID})
}

// AddMember makes userID a member of orgID with an organization-wide role
// ("" for membership alone).
func (s *Store) AddMember(ctx context.Context, orgID, userID, role string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error { return addMember(ctx, tx, orgID, userID, role) })
}

// IsMember reports whether userID belongs to orgID.
func (s *Store) IsMember(ctx context.Context, orgID, userID string) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM cp_org_members WHERE org_id = ? AND user_id = ?", orgID, userID).Scan(&n)
	return n > 0, err
}

// ListMembers returns the members of orgID with their organization roles.
func (s *Store) ListMembers(ctx context.Context, orgID string) ([]Member, error) {
	rows, err := s.db.Query(ctx, "SELECT u.id, u.username, u.email, u.full_name, u.password_hash, u.is_superuser, u.is_service_account, u.active, u.created, u.updated FROM cp_users u JOIN cp_org_members m ON m.user_id = u.id WHERE m.org_id = ? ORDER BY u.username", orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Member{}
	index := map[string]int{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		index[u.ID] = len(out)
		out = append(out, Member{User: u, Roles: []string{}})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	roles, err := s.db.Query(ctx, "SELECT subject_id, role FROM cp_role_assignments WHERE org_id = ? AND subject_type = 'user' AND scope = 'organization' ORDER BY role", orgID)
	if err != nil {
		return nil, err
	}
	defer roles.Close()
	for roles.Next() {
		var uid, role string
		if err := roles.Scan(&uid, &role); err != nil {
			return nil, err
		}
		if i, ok := index[uid]; ok {
			out[i].Roles = append(out[i].Roles, role)
		}
	}
	return out, roles.Err()
}

// RemoveMember takes userID out of orgID: its roles, team places and shares
// there go with it, in one transaction.
func (s *Store) RemoveMember(ctx context.Context, orgID, userID string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		for _, q := range []string{
			"DELETE FROM cp_role_assignments WHERE org_id = ? AND subject_type = 'user' AND subject_id = ?",
			"DELETE FROM cp_team_members WHERE team_id IN (SELECT id FROM cp_teams WHERE org_id = ?) AND user_id = ?",
			"DELETE FROM cp_shares WHERE workspace_id IN (SELECT id FROM cp_workspaces WHERE org_id = ?) AND subject_type = 'user' AND subject_id = ?",
		} {
			if _, err := tx.Exec(ctx, q, orgID, userID); err != nil {
				return err
			}
		}
		res, err := tx.Exec(ctx, "DELETE FROM cp_org_members WHERE org_id = ? AND user_id = ?", orgID, userID)
		return mustAffect(res, err, "user %s is not a member", userID)
	})
}

const roleCols = "id, org_id, name, description, permissions, created, updated"

func scanRole(sc scanner) (Role, error) {
	var r Role
	var perms string
	var created, updated int64
	if err := sc.Scan(&r.ID, &r.OrgID, &r.Name, &r.Description, &perms, &created, &updated); err != nil {
		return r, err
	}
	r.Created, r.Updated = sqldb.Time(created), sqldb.Time(updated)
	return r, json.Unmarshal([]byte(perms), &r.Permissions)
}

// CreateRole adds a custom role to an organization.
func (s *Store) CreateRole(ctx context.Context, r *Role) error {
	if rbac.IsBuiltin(r.Name) {
		return errs.E(errs.Conflict, "%q is a built-in role", r.Name)
	}
	perms, err := json.Marshal(r.Permissions)
	if err != nil {
		return err
	}
	now := sqldb.Now()
	r.ID = newID()
	r.Created, r.Updated = sqldb.Time(now), sqldb.Time(now)
	_, err = s.db.Exec(ctx, "INSERT INTO cp_roles ("+roleCols+") VALUES (?, ?, ?, ?, ?, ?, ?)", r.ID, r.OrgID, r.Name, r.Description, string(perms), now, now)
	return conflict(err, "a role named %q exists already", r.Name)
}

// RoleByID returns the custom role with id.
func (s *Store) RoleByID(ctx context.Context, id string) (Role, error) {
	r, err := scanRole(s.db.QueryRow(ctx, "SELECT "+roleCols+" FROM cp_roles WHERE id = ?", id))
	return r, notFound(err, "role %s not found", id)
}

// ListRoles returns the custom roles of an organization.
func (s *Store) ListRoles(ctx context.Context, orgID string) ([]Role, error) {
	rows, err := s.db.Query(ctx, "SELECT "+roleCols+" FROM cp_roles WHERE org_id = ? ORDER BY name", orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Role
	for rows.Next() {
		r, err := scanRole(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UpdateRole saves a custom role's name, description and permissions.
func (s *Store) UpdateRole(ctx context.Context, r Role) error {
	perms, err := json.Marshal(r.Permissions)
	if err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, "UPDATE cp_roles SET name = ?, description = ?, permissions = ?, updated = ? WHERE id = ?", r.Name, r.Description, string(perms), sqldb.Now(), r.ID)
	if err != nil {
		return conflict(err, "a role named %q exists already", r.Name)
	}
	return mustAffect(res, nil, "role %s not found", r.ID)
}

// DeleteRole removes a custom role that nobody holds.
func (s *Store) DeleteRole(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM cp_role_assignments WHERE role = ?", id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errs.E(errs.Conflict, "the role is still assigned %d time(s)", n)
		}
		res, err := tx.Exec(ctx, "DELETE FROM cp_roles WHERE id = ?", id)
		return mustAffect(res, err, "role %s not found", id)
	})
}

// validSubjectType guards the subject_type column.
func validSubjectType(t string) bool { return t == "user" || t == "team" }

// SetOrgRole replaces a member's organization-wide roles with role.
func (s *Store) SetOrgRole(ctx context.Context, orgID, userID, role string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM cp_role_assignments WHERE org_id = ? AND subject_type = 'user' AND subject_id = ? AND scope = 'organization'", orgID, userID); err != nil {
			return err
		}
		return insertAssignment(ctx, tx, &Assignment{OrgID: orgID, SubjectType: "user", SubjectID: userID, Role: role, Scope: rbac.ScopeOrganization, ScopeID: orgID})
	})
}
