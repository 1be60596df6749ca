package controlplane

import (
	"context"
	"encoding/json"
	"time"

	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/rbac"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

const workspaceSelect = `SELECT w.id, w.name, w.description, w.org_id, o.name, w.enrollment_key_hash,
	w.status_version, w.status_url, w.status_health, w.status_database, w.last_seen, w.created, w.updated
	FROM cp_workspaces w JOIN cp_organizations o ON o.id = w.org_id`

func scanWorkspace(sc scanner) (Workspace, error) {
	var w Workspace
	var lastSeen, created, updated int64
	err := sc.Scan(&w.ID, &w.Name, &w.Description, &w.Organization.ID, &w.Organization.Name, &w.keyHash,
		&w.Status.Version, &w.Status.URL, &w.Status.Health, &w.Status.DatabaseType, &lastSeen, &created, &updated)
	w.Enrolled = w.keyHash != ""
	if lastSeen != 0 {
		t := sqldb.Time(lastSeen)
		w.Status.LastSeen = &t
	}
	w.Created, w.Updated = sqldb.Time(created), sqldb.Time(updated)
	return w, err
}

// CreateWorkspace adds a workspace; keyHash is "" when it is not enrolled yet.
func (s *Store) CreateWorkspace(ctx context.Context, w *Workspace, keyHash, creatorID string) error {
	now := sqldb.Now()
	w.ID = newID()
	w.Created, w.Updated = sqldb.Time(now), sqldb.Time(now)
	w.Enrolled = keyHash != ""
	_, err := s.db.Exec(ctx, "INSERT INTO cp_workspaces (id, org_id, name, description, enrollment_key_hash, created_by, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		w.ID, w.Organization.ID, w.Name, w.Description, keyHash, creatorID, now, now)
	if sqldb.IsForeignKeyViolation(err) {
		return errs.E(errs.NotFound, "organization %s not found", w.Organization.ID)
	}
	return conflict(err, "a workspace named %q exists already", w.Name)
}

// WorkspaceByID returns the workspace with id.
func (s *Store) WorkspaceByID(ctx context.Context, id string) (Workspace, error) {
	w, err := scanWorkspace(s.db.QueryRow(ctx, workspaceSelect+" WHERE w.id = ?", id))
	return w, notFound(err, "workspace %s not found", id)
}

// WorkspaceFilter narrows ListWorkspaces.
type WorkspaceFilter struct {
	OrgID string
	Name  string
	// VisibleTo, when set, keeps only workspaces this user has any role in:
	// an organization-wide one, or one on the workspace or its projects.
	VisibleTo string
}

// ListWorkspaces returns the workspaces that match f, by name.
func (s *Store) ListWorkspaces(ctx context.Context, f WorkspaceFilter) ([]Workspace, error) {
	q := workspaceSelect + " WHERE 1 = 1"
	var args []any
	if f.OrgID != "" {
		q += " AND w.org_id = ?"
		args = append(args, f.OrgID)
	}
	if f.Name != "" {
		q += " AND w.name = ?"
		args = append(args, f.Name)
	}
	if f.VisibleTo != "" {
		q += ` AND EXISTS (SELECT 1 FROM cp_role_assignments a WHERE a.org_id = w.org_id
			AND (a.scope = 'organization' OR a.workspace_id = w.id)
			AND ((a.subject_type = 'user' AND a.subject_id = ?) OR (a.subject_type = 'team' AND a.subject_id IN (SELECT team_id FROM cp_team_members WHERE user_id = ?))))`
		args = append(args, f.VisibleTo, f.VisibleTo)
	}
	rows, err := s.db.Query(ctx, q+" ORDER BY w.name", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Workspace{}
	for rows.Next() {
		w, err := scanWorkspace(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// UpdateWorkspace saves the description.
func (s *Store) UpdateWorkspace(ctx context.Context, w Workspace) error {
	res, err := s.db.Exec(ctx, "UPDATE cp_workspaces SET description = ?, updated = ? WHERE id = ?", w.Description, sqldb.Now(), w.ID)
	return mustAffect(res, err, "workspace %s not found", w.ID)
}

// SetEnrollmentKey replaces the hash of a workspace's enrollment key.
func (s *Store) SetEnrollmentKey(ctx context.Context, id, keyHash string) error {
	res, err := s.db.Exec(ctx, "UPDATE cp_workspaces SET enrollment_key_hash = ?, updated = ? WHERE id = ?", keyHash, sqldb.Now(), id)
	return mustAffect(res, err, "workspace %s not found", id)
}

// UpdateWorkspaceStatus records what a workspace server reported.
func (s *Store) UpdateWorkspaceStatus(ctx context.Context, id string, st WorkspaceStatus) error {
	res, err := s.db.Exec(ctx, "UPDATE cp_workspaces SET status_version = ?, status_url = ?, status_health = ?, status_database = ?, last_seen = ? WHERE id = ?",
		st.Version, st.URL, st.Health, st.DatabaseType, sqldb.Now(), id)
	return mustAffect(res, err, "workspace %s not found", id)
}

// DeleteWorkspace removes a workspace with its role assignments and shares.
func (s *Store) DeleteWorkspace(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		for _, q := range []string{
			"DELETE FROM cp_role_assignments WHERE workspace_id = ?",
			"DELETE FROM cp_shares WHERE workspace_id = ?",
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		res, err := tx.Exec(ctx, "DELETE FROM cp_workspaces WHERE id = ?", id)
		return mustAffect(res, err, "workspace %s not found", id)
	})
}

const apiKeyCols = "id, user_id, name, key_hash, active, last_used, created"

func scanAPIKey(sc scanner) (APIKey, error) {
	var k APIKey
	var lastUsed, created int64
	err := sc.Scan(&k.ID, &k.UserID, &k.Name, &k.keyHash, &k.Active, &lastUsed, &created)
	if lastUsed != 0 {
		t := sqldb.Time(lastUsed)
		k.LastUsed = &t
	}
	k.Created = sqldb.Time(created)
	return k, err
}

// CreateAPIKey stores a key's hash for a service account.
func (s *Store) CreateAPIKey(ctx context.Context, k *APIKey, keyHash string) error {
	now := sqldb.Now()
	k.ID = newID()
	k.Active = true
	k.Created = sqldb.Time(now)
	_, err := s.db.Exec(ctx, "INSERT INTO cp_api_keys ("+apiKeyCols+") VALUES (?, ?, ?, ?, ?, ?, ?)", k.ID, k.UserID, k.Name, keyHash, true, 0, now)
	return conflict(err, "an API key named %q exists already", k.Name)
}

// APIKeyByID returns one key.
func (s *Store) APIKeyByID(ctx context.Context, id string) (APIKey, error) {
	k, err := scanAPIKey(s.db.QueryRow(ctx, "SELECT "+apiKeyCols+" FROM cp_api_keys WHERE id = ?", id))
	return k, notFound(err, "API key %s not found", id)
}

// ListAPIKeys returns a service account's keys.
func (s *Store) ListAPIKeys(ctx context.Context, userID string) ([]APIKey, error) {
	rows, err := s.db.Query(ctx, "SELECT "+apiKeyCols+" FROM cp_api_keys WHERE user_id = ? ORDER BY name", userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// TouchAPIKey records a use of the key.
func (s *Store) TouchAPIKey(ctx context.Context, id string) error {
	_, err := s.db.Exec(ctx, "UPDATE cp_api_keys SET last_used = ? WHERE id = ?", sqldb.Now(), id)
	return err
}

// DeleteAPIKey removes a key.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	res, err := s.db.Exec(ctx, "DELETE FROM cp_api_keys WHERE id = ?", id)
	return mustAffect(res, err, "API key %s not found", id)
}

const invitationCols = "id, org_id, email, role, token_hash, expires, accepted_by, created"

func scanInvitation(sc scanner) (Invitation, error) {
	var i Invitation
	var expires, created int64
	err := sc.Scan(&i.ID, &i.OrgID, &i.Email, &i.Role, &i.tokenHash, &expires, &i.AcceptedBy, &created)
	i.Expires, i.Created = sqldb.Time(expires), sqldb.Time(created)
	return i, err
}

// CreateInvitation stores an invitation with its token's hash.
func (s *Store) CreateInvitation(ctx context.Context, inv *Invitation, tokenHash, invitedBy string) error {
	now := sqldb.Now()
	if inv.ID == "" {
		inv.ID = newID()
	}
	inv.Created = sqldb.Time(now)
	_, err := s.db.Exec(ctx, "INSERT INTO cp_invitations (id, org_id, email, role, token_hash, invited_by, expires, accepted_by, created) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?)",
		inv.ID, inv.OrgID, inv.Email, inv.Role, tokenHash, invitedBy, inv.Expires.UnixMicro(), now)
	return err
}

// InvitationByID returns one invitation.
func (s *Store) InvitationByID(ctx context.Context, id string) (Invitation, error) {
	i, err := scanInvitation(s.db.QueryRow(ctx, "SELECT "+invitationCols+" FROM cp_invitations WHERE id = ?", id))
	return i, notFound(err, "invitation not found")
}

// ListInvitations returns an organization's invitations, newest first.
func (s *Store) ListInvitations(ctx context.Context, orgID string) ([]Invitation, error) {
	rows, err := s.db.Query(ctx, "SELECT "+invitationCols+" FROM cp_invitations WHERE org_id = ? ORDER BY created DESC", orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Invitation{}
	for rows.Next() {
		i, err := scanInvitation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// DeleteInvitation withdraws an invitation.
func (s *Store) DeleteInvitation(ctx context.Context, id string) error {
	res, err := s.db.Exec(ctx, "DELETE FROM cp_invitations WHERE id = ?", id)
	return mustAffect(res, err, "invitation %s not found", id)
}

// AcceptInvitation creates the invited user and its membership, and marks the
// invitation used, all or nothing.
func (s *Store) AcceptInvitation(ctx context.Context, inv Invitation, u *User, passwordHash string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.Exec(ctx, "UPDATE cp_invitations SET accepted_by = ? WHERE id = ? AND accepted_by = '' AND expires > ?", "pending", inv.ID, time.Now().UnixMicro())
		if err := mustAffect(res, err, "the invitation was used or has expired"); err != nil {
			return err
		}
		if err := insertUser(ctx, tx, u, passwordHash); err != nil {
			return err
		}
		if err := addMember(ctx, tx, inv.OrgID, u.ID, inv.Role); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE cp_invitations SET accepted_by = ? WHERE id = ?", u.ID, inv.ID)
		return err
	})
}

// PutShare records (or replaces) a share of one resource.
func (s *Store) PutShare(ctx context.Context, sh *Share) error {
	acts, err := json.Marshal(sh.Actions)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM cp_shares WHERE workspace_id = ? AND resource = ? AND subject_type = ? AND subject_id = ?",
			sh.WorkspaceID, sh.Resource, sh.SubjectType, sh.SubjectID); err != nil {
			return err
		}
		sh.ID = newID()
		_, err := tx.Exec(ctx, "INSERT INTO cp_shares (id, workspace_id, resource, subject_type, subject_id, actions, shared_by, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			sh.ID, sh.WorkspaceID, sh.Resource, sh.SubjectType, sh.SubjectID, string(acts), sh.SharedBy, sqldb.Now())
		return err
	})
}

// SharesOf returns what was shared in a workspace with userID or its teams.
func (s *Store) SharesOf(ctx context.Context, workspaceID, userID string) ([]rbac.ResourceShare, error) {
	rows, err := s.db.Query(ctx, `SELECT resource, actions FROM cp_shares WHERE workspace_id = ?
		AND ((subject_type = 'user' AND subject_id = ?) OR (subject_type = 'team' AND subject_id IN (SELECT team_id FROM cp_team_members WHERE user_id = ?)))`,
		workspaceID, userID, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rbac.ResourceShare
	for rows.Next() {
		var res, acts string
		if err := rows.Scan(&res, &acts); err != nil {
			return nil, err
		}
		r, err := rbac.ParseResource(res)
		if err != nil {
			continue // written by an older version with other types; not a grant now
		}
		var a []rbac.Action
		if err := json.Unmarshal([]byte(acts), &a); err != nil {
			return nil, err
		}
		out = append(out, rbac.ResourceShare{Resource: r, Actions: a})
	}
	return out, rows.Err()
}

// DeleteShares forgets the shares of resources that a workspace deleted.
func (s *Store) DeleteShares(ctx context.Context, workspaceID string, resources []string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		for _, r := range resources {
			if _, err := tx.Exec(ctx, "DELETE FROM cp_shares WHERE workspace_id = ? AND resource = ?", workspaceID, r); err != nil {
				return err
			}
		}
		return nil
	})
}
