package workspace

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

var userSpec = &listSpec{table: "users", fields: baseFields(map[string]field{
	"name":      {col: "name", kind: kString},
	"full_name": {col: "full_name", kind: kString},
	"email":     {col: "email", kind: kString},
	"active":    {col: "active", kind: kBool},
	"is_admin":  {col: "is_admin", kind: kBool},
})}

const userCols = "id, name, full_name, email, is_admin, active, is_service_account, external_user_id, description, created, updated"

func scanUser(rows *sql.Rows) (string, client.User, error) {
	var u client.User
	var md client.UserMetadata
	var ext sql.NullString
	var created, updated int64
	err := rows.Scan(&u.ID, &u.Name, &u.Body.FullName, &md.Email, &u.Body.IsAdmin, &u.Body.Active,
		&u.Body.IsServiceAccount, &ext, &md.Description, &created, &updated)
	u.Body.Created, u.Body.Updated = wireTime(created), wireTime(updated)
	md.ExternalUserID = strPtr(ext)
	u.Metadata = &md
	return u.ID, u, err
}

func (s *Store) getUsers(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.User, error) {
	us, err := byIDs(ctx, q, userCols, "users", ids, scanUser)
	for i := range us {
		if !hydrate {
			us[i].Metadata = nil
		}
		us[i].Resources = &client.NoResources{}
	}
	return us, err
}

// User returns a user or service account by id.
func (s *Store) User(ctx context.Context, id string, hydrate bool) (client.User, error) {
	return one(ctx, s.db, id, "user", hydrate, s.getUsers)
}

// UserByName returns a user by name or id.
func (s *Store) UserByName(ctx context.Context, nameOrID string) (client.User, error) {
	id, err := s.ref(ctx, s.db, "users", "user", nameOrID, "")
	if err != nil {
		return client.User{}, err
	}
	return s.User(ctx, id, true)
}

// ListUsers lists users, or service accounts.
func (s *Store) ListUsers(ctx context.Context, lq *listQuery, serviceAccounts bool) (client.Page[client.User], error) {
	lq.addScope("is_service_account = ?", serviceAccounts)
	return pageOf(ctx, s, userSpec, lq, s.getUsers)
}

// CreateUser adds a user (or, with sa, a service account); the password, if
// any, is kept only as a hash.
func (s *Store) CreateUser(ctx context.Context, req client.UserRequest, sa bool, description string) (client.User, error) {
	hash := ""
	if req.Password != "" {
		var err error
		if hash, err = auth.HashSecret(req.Password); err != nil {
			return client.User{}, err
		}
	}
	active := req.Active == nil || *req.Active
	id, now := s.idFunc(), s.now()
	_, err := s.db.Exec(ctx, "INSERT INTO users ("+userCols+", password_hash) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
		id, req.Name, req.FullName, req.Email, req.IsAdmin, active, sa, description, now, now, hash)
	if err != nil {
		return client.User{}, writeErr(err, "user")
	}
	return s.User(ctx, id, true)
}

// UpdateUser changes a user. A new password needs the old one unless
// checkOld is false (an admin resetting it).
func (s *Store) UpdateUser(ctx context.Context, id string, u client.UserUpdate, checkOld bool, description *string) (client.User, error) {
	defer s.users.invalidate()
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var hash string
		if err := tx.QueryRow(ctx, "SELECT password_hash FROM users WHERE id = ?", id).Scan(&hash); err != nil {
			return notFound(err, "user", id)
		}
		sets, args := []string{"updated = ?"}, []any{s.now()}
		add := func(col string, v any) { sets = append(sets, col+" = ?"); args = append(args, v) }
		if u.Name != nil {
			add("name", *u.Name)
		}
		if u.FullName != nil {
			add("full_name", *u.FullName)
		}
		if u.Email != nil {
			add("email", *u.Email)
		}
		if u.IsAdmin != nil {
			add("is_admin", *u.IsAdmin)
		}
		if u.Active != nil {
			add("active", *u.Active)
		}
		if description != nil {
			add("description", *description)
		}
		if u.Password != nil {
			if checkOld && (u.OldPassword == nil || !auth.CheckSecret(hash, *u.OldPassword)) {
				return errs.E(errs.Forbidden, "the old password is wrong")
			}
			h, err := auth.HashSecret(*u.Password)
			if err != nil {
				return err
			}
			add("password_hash", h)
		}
		_, err := tx.Exec(ctx, "UPDATE users SET "+strings.Join(sets, ", ")+" WHERE id = ?", append(args, id)...)
		return writeErr(err, "user")
	})
	if err != nil {
		return client.User{}, err
	}
	return s.User(ctx, id, true)
}

// DeleteUser removes a user and its API keys.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	defer s.users.invalidate()
	res, err := s.db.Exec(ctx, "DELETE FROM users WHERE id = ?", id)
	if err != nil {
		return writeErr(err, "user")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.E(errs.NotFound, "user %s not found", id)
	}
	return nil
}

// CheckPassword returns the user whose name and password match.
func (s *Store) CheckPassword(ctx context.Context, name, password string) (client.User, error) {
	var id, hash string
	var active, sa bool
	err := s.db.QueryRow(ctx, "SELECT id, password_hash, active, is_service_account FROM users WHERE name = ?", name).Scan(&id, &hash, &active, &sa)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return client.User{}, err
	}
	// An unknown user costs the same hash as a known one.
	if !auth.CheckSecret(hash, password) || !active || sa || hash == "" {
		return client.User{}, errs.E(errs.Unauthenticated, "wrong user name or password")
	}
	return s.User(ctx, id, true)
}

// UpsertExternalUser creates or refreshes the local user that stands for a
// control-plane user or service account. A person's local name is their
// e-mail, a service account's its name; either is the control plane's id
// when the name is taken.
func (s *Store) UpsertExternalUser(ctx context.Context, cu cpUser) (client.User, error) {
	defer s.users.invalidate()
	var id string
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		err := tx.QueryRow(ctx, "SELECT id FROM users WHERE external_user_id = ?", cu.ID).Scan(&id)
		now := s.now()
		switch {
		case err == nil:
			_, err = tx.Exec(ctx, "UPDATE users SET full_name = ?, email = ?, is_admin = ?, is_service_account = ?, updated = ? WHERE id = ?",
				cu.Name, cu.Email, cu.IsAdmin, cu.IsServiceAccount, now, id)
			return err
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		id = s.idFunc()
		local := cu.Email
		if cu.IsServiceAccount {
			local = cu.Name
		}
		if local == "" {
			local = cu.ID
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM users WHERE name = ?", local).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			local = cu.ID
		}
		_, err = tx.Exec(ctx, "INSERT INTO users ("+userCols+", password_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, '')",
			id, local, cu.Name, cu.Email, cu.IsAdmin, true, cu.IsServiceAccount, cu.ID, now, now)
		return err
	})
	if err != nil {
		return client.User{}, writeErr(err, "user")
	}
	return s.User(ctx, id, true)
}

// CountUsers counts human users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM users WHERE is_service_account = ?", false).Scan(&n)
	return n, err
}
