package controlplane

import (
	"context"

	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/rbac"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

const teamCols = "id, org_id, name, description, created, updated"

func scanTeam(sc scanner) (Team, error) {
	var t Team
	var created, updated int64
	err := sc.Scan(&t.ID, &t.OrgID, &t.Name, &t.Description, &created, &updated)
	t.Created, t.Updated = sqldb.Time(created), sqldb.Time(updated)
	t.MemberIDs = []string{}
	return t, err
}

// CreateTeam adds a team to an organization.
func (s *Store) CreateTeam(ctx context.Context, t *Team) error {
	now := sqldb.Now()
	t.ID = newID()
	t.Created, t.Updated = sqldb.Time(now), sqldb.Time(now)
	t.MemberIDs = []string{}
	_, err := s.db.Exec(ctx, "INSERT INTO cp_teams ("+teamCols+") VALUES (?, ?, ?, ?, ?, ?)", t.ID, t.OrgID, t.Name, t.Description, now, now)
	return conflict(err, "a team named %q exists already", t.Name)
}

// TeamByID returns a team with its members.
func (s *Store) TeamByID(ctx context.Context, id string) (Team, error) {
	t, err := scanTeam(s.db.QueryRow(ctx, "SELECT "+teamCols+" FROM cp_teams WHERE id = ?", id))
	if err != nil {
		return t, notFound(err, "team %s not found", id)
	}
	teams := []Team{t}
	if err := s.fillTeamMembers(ctx, teams, "team_id = ?", id); err != nil {
		return t, err
	}
	return teams[0], nil
}

// ListTeams returns the teams of an organization with their members.
func (s *Store) ListTeams(ctx context.Context, orgID string) ([]Team, error) {
	rows, err := s.db.Query(ctx, "SELECT "+teamCols+" FROM cp_teams WHERE org_id = ? ORDER BY name", orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Team{}
	for rows.Next() {
		t, err := scanTeam(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, s.fillTeamMembers(ctx, out, "team_id IN (SELECT id FROM cp_teams WHERE org_id = ?)", orgID)
}

// fillTeamMembers loads the members of all teams in one query.
func (s *Store) fillTeamMembers(ctx context.Context, teams []Team, where string, arg string) error {
	index := map[string]int{}
	for i, t := range teams {
		index[t.ID] = i
	}
	rows, err := s.db.Query(ctx, "SELECT team_id, user_id FROM cp_team_members WHERE "+where+" ORDER BY created, user_id", arg)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var tid, uid string
		if err := rows.Scan(&tid, &uid); err != nil {
			return err
		}
		if i, ok := index[tid]; ok {
			teams[i].MemberIDs = append(teams[i].MemberIDs, uid)
		}
	}
	return rows.Err()
}

// UpdateTeam saves a team's name and description.
func (s *Store) UpdateTeam(ctx context.Context, t Team) error {
	res, err := s.db.Exec(ctx, "UPDATE cp_teams SET name = ?, description = ?, updated = ? WHERE id = ?", t.Name, t.Description, sqldb.Now(), t.ID)
	if err != nil {
		return conflict(err, "a team named %q exists already", t.Name)
	}
	return mustAffect(res, nil, "team %s not found", t.ID)
}

// DeleteTeam removes a team, its roles and its shares.
func (s *Store) DeleteTeam(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		for _, q := range []string{
			"DELETE FROM cp_role_assignments WHERE subject_type = 'team' AND subject_id = ?",
			"DELETE FROM cp_shares WHERE subject_type = 'team' AND subject_id = ?",
			"DELETE FROM cp_team_members WHERE team_id = ?",
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		res, err := tx.Exec(ctx, "DELETE FROM cp_teams WHERE id = ?", id)
		return mustAffect(res, err, "team %s not found", id)
	})
}

// AddTeamMember puts a member of the team's organization into the team.
func (s *Store) AddTeamMember(ctx context.Context, teamID, userID string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var n int
		err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM cp_org_members m JOIN cp_teams t ON t.org_id = m.org_id WHERE t.id = ? AND m.user_id = ?", teamID, userID).Scan(&n)
		if err != nil {
			return err
		}
		if n == 0 {
			return errs.E(errs.Invalid, "user %s is not a member of the team's organization", userID)
		}
		_, err = tx.Exec(ctx, "INSERT INTO cp_team_members (team_id, user_id, created) VALUES (?, ?, ?)", teamID, userID, sqldb.Now())
		return conflict(err, "the user is in the team already")
	})
}

// RemoveTeamMember takes a user out of a team.
func (s *Store) RemoveTeamMember(ctx context.Context, teamID, userID string) error {
	res, err := s.db.Exec(ctx, "DELETE FROM cp_team_members WHERE team_id = ? AND user_id = ?", teamID, userID)
	return mustAffect(res, err, "user %s is not in the team", userID)
}

const assignmentCols = "id, org_id, subject_type, subject_id, role, scope, scope_id, workspace_id, created"

func scanAssignment(sc scanner) (Assignment, error) {
	var a Assignment
	var created int64
	var scope string
	err := sc.Scan(&a.ID, &a.OrgID, &a.SubjectType, &a.SubjectID, &a.Role, &scope, &a.ScopeID, &a.WorkspaceID, &created)
	a.Scope = rbac.Scope(scope)
	a.Created = sqldb.Time(created)
	return a, err
}

func insertAssignment(ctx context.Context, q sqldb.Querier, a *Assignment) error {
	if !validSubjectType(a.SubjectType) {
		return errs.E(errs.Invalid, "subject type must be user or team")
	}
	now := sqldb.Now()
	a.ID = newID()
	a.Created = sqldb.Time(now)
	_, err := q.Exec(ctx, "INSERT INTO cp_role_assignments ("+assignmentCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		a.ID, a.OrgID, a.SubjectType, a.SubjectID, a.Role, string(a.Scope), a.ScopeID, a.WorkspaceID, now)
	return conflict(err, "that role is assigned already")
}

// CreateAssignment gives a role at a scope.
func (s *Store) CreateAssignment(ctx context.Context, a *Assignment) error {
	return insertAssignment(ctx, s.db, a)
}

// AssignmentByID returns one assignment.
func (s *Store) AssignmentByID(ctx context.Context, id string) (Assignment, error) {
	a, err := scanAssignment(s.db.QueryRow(ctx, "SELECT "+assignmentCols+" FROM cp_role_assignments WHERE id = ?", id))
	return a, notFound(err, "role assignment %s not found", id)
}

// ListAssignments returns every assignment in an organization.
func (s *Store) ListAssignments(ctx context.Context, orgID string) ([]Assignment, error) {
	return s.queryAssignments(ctx, "SELECT "+assignmentCols+" FROM cp_role_assignments WHERE org_id = ? ORDER BY created, id", orgID)
}

// AssignmentsOf returns the assignments that apply to userID in orgID: its
// own and those of its teams.
func (s *Store) AssignmentsOf(ctx context.Context, orgID, userID string) ([]Assignment, error) {
	return s.queryAssignments(ctx, "SELECT "+assignmentCols+" FROM cp_role_assignments WHERE org_id = ? AND ((subject_type = 'user' AND subject_id = ?) OR (subject_type = 'team' AND subject_id IN (SELECT team_id FROM cp_team_members WHERE user_id = ?)))", orgID, userID, userID)
}

func (s *Store) queryAssignments(ctx context.Context, q string, args ...any) ([]Assignment, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Assignment{}
	for rows.Next() {
		a, err := scanAssignment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteAssignment removes one assignment.
func (s *Store) DeleteAssignment(ctx context.Context, id string) error {
	res, err := s.db.Exec(ctx, "DELETE FROM cp_role_assignments WHERE id = ?", id)
	return mustAffect(res, err, "role assignment %s not found", id)
}
