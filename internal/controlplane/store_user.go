package controlplane

import (
	"context"

	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

const userCols = "id, username, email, full_name, password_hash, is_superuser, is_service_account, active, created, updated"

func scanUser(sc scanner) (User, error) {
	var u User
	var created, updated int64
	err := sc.Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.passwordHash, &u.IsSuperuser, &u.IsServiceAccount, &u.Active, &created, &updated)
	u.Created, u.Updated = sqldb.Time(created), sqldb.Time(updated)
	return u, err
}

func insertUser(ctx context.Context, q sqldb.Querier, u *User, passwordHash string) error {
	now := sqldb.Now()
	if u.ID == "" {
		u.ID = newID()
	}
	u.Created, u.Updated = sqldb.Time(now), sqldb.Time(now)
	u.passwordHash = passwordHash
	_, err := q.Exec(ctx, "INSERT INTO cp_users ("+userCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		u.ID, u.Username, u.Email, u.Name, passwordHash, u.IsSuperuser, u.IsServiceAccount, u.Active, now, now)
	return conflict(err, "a user or service account named %q exists already", u.Username)
}

// CreateUser adds a user with the given password hash ("" for none).
func (s *Store) CreateUser(ctx context.Context, u *User, passwordHash string) error {
	return insertUser(ctx, s.db, u, passwordHash)
}

// UserByID returns the user with id.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, "SELECT "+userCols+" FROM cp_users WHERE id = ?", id))
	return u, notFound(err, "user %s not found", id)
}

// UserByUsername returns the user named username.
func (s *Store) UserByUsername(ctx context.Context, username string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, "SELECT "+userCols+" FROM cp_users WHERE username = ?", username))
	return u, notFound(err, "user %q not found", username)
}

// ListUsers returns every user, people first, by name.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.Query(ctx, "SELECT "+userCols+" FROM cp_users ORDER BY is_service_account, username")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UpdateUser saves the user's name, email and active flag.
func (s *Store) UpdateUser(ctx context.Context, u User) error {
	res, err := s.db.Exec(ctx, "UPDATE cp_users SET full_name = ?, email = ?, active = ?, updated = ? WHERE id = ?",
		u.Name, u.Email, u.Active, sqldb.Now(), u.ID)
	return mustAffect(res, err, "user %s not found", u.ID)
}

// SetPassword replaces the user's password hash.
func (s *Store) SetPassword(ctx context.Context, userID, hash string) error {
	res, err := s.db.Exec(ctx, "UPDATE cp_users SET password_hash = ?, updated = ? WHERE id = ?", hash, sqldb.Now(), userID)
	return mustAffect(res, err, "user %s not found", userID)
}

// CountSuperusers returns how many active superusers exist.
func (s *Store) CountSuperusers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM cp_users WHERE is_superuser = ? AND active = ?", true, true).Scan(&n)
	return n, err
}

type result interface{ RowsAffected() (int64, error) }

func mustAffect(res result, err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errs.E(errs.NotFound, format, args...)
	}
	return nil
}

// CreateServiceAccount adds a service account and its membership of orgID
// with role, together.
func (s *Store) CreateServiceAccount(ctx context.Context, u *User, orgID, role string) error {
	u.IsServiceAccount = true
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if err := insertUser(ctx, tx, u, ""); err != nil {
			return err
		}
		return addMember(ctx, tx, orgID, u.ID, role)
	})
}

// DeleteServiceAccount removes a service account, its keys, roles and
// memberships.
func (s *Store) DeleteServiceAccount(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		for _, q := range []string{
			"DELETE FROM cp_api_keys WHERE user_id = ?",
			"DELETE FROM cp_role_assignments WHERE subject_type = 'user' AND subject_id = ?",
			"DELETE FROM cp_team_members WHERE user_id = ?",
			"DELETE FROM cp_shares WHERE subject_type = 'user' AND subject_id = ?",
			"DELETE FROM cp_org_members WHERE user_id = ?",
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		res, err := tx.Exec(ctx, "DELETE FROM cp_users WHERE id = ? AND is_service_account = ?", id, true)
		return mustAffect(res, err, "service account %s not found", id)
	})
}
