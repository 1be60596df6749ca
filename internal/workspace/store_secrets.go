package workspace

import (
	"context"
	"database/sql"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// Secrets are sealed with the secret box; a private secret is seen only by
// its owner. Names are unique among public secrets and among each user's
// private ones (the scope column: "" or the owner's id).

var secretSpec = &listSpec{table: "secrets", fields: baseFields(map[string]field{
	"name":    {col: "name", kind: kString, sort: true},
	"private": {col: "is_private", kind: kBool},
	"user_id": {col: "user_id", kind: kID},
}), params: []string{"user"}}

type secretRow struct {
	secret client.Secret
	sealed string
}

func (s *Store) getSecretRows(ctx context.Context, q sqldb.Querier, ids []string) ([]secretRow, error) {
	return byIDs(ctx, q, "id, name, is_private, user_id, enc_values, created, updated", "secrets", ids, func(rows *sql.Rows) (string, secretRow, error) {
		var r secretRow
		sec := &r.secret
		var user sql.NullString
		var created, updated int64
		err := rows.Scan(&sec.ID, &sec.Name, &sec.Body.Private, &user, &r.sealed, &created, &updated)
		sec.Body.Created, sec.Body.Updated, sec.Body.UserID = wireTime(created), wireTime(updated), user.String
		sec.Resources = &client.NoResources{}
		return sec.ID, r, err
	})
}

func (s *Store) secretsEnabled() error {
	if s.box == nil {
		return errs.E(errs.Forbidden, "the secrets store is disabled on this server (ZENML_SECRETS_STORE_TYPE=none)")
	}
	return nil
}

// Secret returns a secret; with values, its values are opened, otherwise
// only its keys are shown.
func (s *Store) Secret(ctx context.Context, id string, values bool) (client.Secret, error) {
	if err := s.secretsEnabled(); err != nil {
		return client.Secret{}, err
	}
	if !validID(id) {
		return client.Secret{}, errs.E(errs.NotFound, "secret %s not found", id)
	}
	rows, err := s.getSecretRows(ctx, s.db, []string{id})
	if err != nil {
		return client.Secret{}, err
	}
	if len(rows) == 0 {
		return client.Secret{}, errs.E(errs.NotFound, "secret %s not found", id)
	}
	return s.present(rows[0], values, true)
}

func (s *Store) present(r secretRow, withValues, hydrate bool) (client.Secret, error) {
	vals, err := s.box.open(r.secret.ID, r.sealed)
	if err != nil {
		return client.Secret{}, errs.Wrap(errs.Other, err, "secret %s", r.secret.ID)
	}
	r.secret.Body.Values = map[string]*string{}
	for k, v := range vals {
		if withValues {
			v := v
			r.secret.Body.Values[k] = &v
		} else {
			r.secret.Body.Values[k] = nil
		}
	}
	if hydrate {
		r.secret.Metadata = &client.NoResources{}
	}
	return r.secret, nil
}

// ListSecrets lists the public secrets and viewer's private ones, keys only.
func (s *Store) ListSecrets(ctx context.Context, viewerID string, lq *listQuery) (client.Page[client.Secret], error) {
	if err := s.secretsEnabled(); err != nil {
		return client.Page[client.Secret]{}, err
	}
	lq.addScope("is_private = ? OR user_id = ?", false, viewerID)
	return pageOf(ctx, s, secretSpec, lq, func(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.Secret, error) {
		rows, err := s.getSecretRows(ctx, q, ids)
		if err != nil {
			return nil, err
		}
		out := make([]client.Secret, 0, len(rows))
		for _, r := range rows {
			sec, err := s.present(r, false, hydrate)
			if err != nil {
				return nil, err
			}
			out = append(out, sec)
		}
		return out, nil
	})
}

func secretScope(private bool, userID string) string {
	if private {
		return userID
	}
	return ""
}

func (s *Store) CreateSecret(ctx context.Context, userID string, r client.SecretRequest) (client.Secret, error) {
	if err := s.secretsEnabled(); err != nil {
		return client.Secret{}, err
	}
	id, now := s.idFunc(), s.now()
	sealed, err := s.box.seal(id, r.Values)
	if err != nil {
		return client.Secret{}, err
	}
	_, err = s.db.Exec(ctx, "INSERT INTO secrets (id, name, is_private, scope, user_id, enc_values, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		id, r.Name, r.Private, secretScope(r.Private, userID), emptyNull(userID), sealed, now, now)
	if err != nil {
		return client.Secret{}, writeErr(err, "secret")
	}
	return s.Secret(ctx, id, false)
}

// UpdateSecret renames, re-scopes or changes values (a null value removes
// its key), re-sealing under a fresh nonce.
func (s *Store) UpdateSecret(ctx context.Context, id string, u client.SecretUpdate) (client.Secret, error) {
	if err := s.secretsEnabled(); err != nil {
		return client.Secret{}, err
	}
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		rows, err := s.getSecretRows(ctx, tx, []string{id})
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return errs.E(errs.NotFound, "secret %s not found", id)
		}
		cur := rows[0]
		vals, err := s.box.open(id, cur.sealed)
		if err != nil {
			return errs.Wrap(errs.Other, err, "secret %s", id)
		}
		for k, v := range u.Values {
			if v == nil {
				delete(vals, k)
			} else {
				vals[k] = *v
			}
		}
		sealed, err := s.box.seal(id, vals)
		if err != nil {
			return err
		}
		private := cur.secret.Body.Private
		if u.Private != nil {
			private = *u.Private
		}
		sets := updates{}
		sets.add(true, "enc_values", sealed)
		sets.add(u.Name != nil, "name", u.Name)
		sets.add(true, "is_private", private)
		sets.add(true, "scope", secretScope(private, cur.secret.Body.UserID))
		return s.update(ctx, tx, "secrets", "secret", id, sets)
	})
	if err != nil {
		return client.Secret{}, err
	}
	return s.Secret(ctx, id, false)
}

func (s *Store) DeleteSecret(ctx context.Context, id string) error {
	if err := s.secretsEnabled(); err != nil {
		return err
	}
	return s.deleteRow(ctx, s.db, "secrets", "secret", id)
}
