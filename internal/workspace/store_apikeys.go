package workspace

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// API keys belong to service accounts and look like ZENKEY_ + base64 of
// {"id": key id, "key": secret}. Only an argon2id hash of the secret is kept.

const apiKeyPrefix = "ZENKEY_"

var apiKeySpec = &listSpec{table: "api_keys", fields: baseFields(map[string]field{
	"name":   {col: "name", kind: kString},
	"active": {col: "active", kind: kBool},
})}

const apiKeyCols = "id, name, description, service_account_id, active, last_login, last_rotated, created, updated"

func scanAPIKey(rows *sql.Rows) (string, client.APIKey, error) {
	var k client.APIKey
	var md client.APIKeyMetadata
	var login, rotated sql.NullInt64
	var created, updated int64
	err := rows.Scan(&k.ID, &k.Name, &md.Description, &k.Body.ServiceAccountID, &k.Body.Active, &login, &rotated, &created, &updated)
	k.Body.Created, k.Body.Updated = wireTime(created), wireTime(updated)
	k.Body.LastLogin, k.Body.LastRotated = wireTimePtr(login), wireTimePtr(rotated)
	k.Metadata, k.Resources = &md, &client.NoResources{}
	return k.ID, k, err
}

func (s *Store) getAPIKeys(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.APIKey, error) {
	ks, err := byIDs(ctx, q, apiKeyCols, "api_keys", ids, scanAPIKey)
	if !hydrate {
		for i := range ks {
			ks[i].Metadata = nil
		}
	}
	return ks, err
}

func encodeAPIKey(id, secret string) string {
	b, _ := json.Marshal(map[string]string{"id": id, "key": secret})
	return apiKeyPrefix + base64.StdEncoding.EncodeToString(b)
}

func decodeAPIKey(key string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(key, apiKeyPrefix)
	if !found || len(rest) > 1024 {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return "", "", false
	}
	var v struct{ ID, Key string }
	if json.Unmarshal(raw, &v) != nil || !validID(v.ID) || v.Key == "" {
		return "", "", false
	}
	return strings.ToLower(v.ID), v.Key, true
}

// CreateAPIKey makes a key for service account saID; the answer carries the
// key, which is never shown again.
func (s *Store) CreateAPIKey(ctx context.Context, saID string, req client.APIKeyRequest) (client.APIKey, error) {
	if err := s.isServiceAccount(ctx, saID); err != nil {
		return client.APIKey{}, err
	}
	secret := auth.RandomSecret(32)
	hash, err := auth.HashSecret(secret)
	if err != nil {
		return client.APIKey{}, err
	}
	id, now := s.idFunc(), s.now()
	_, err = s.db.Exec(ctx, "INSERT INTO api_keys (id, name, description, service_account_id, active, key_hash, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		id, req.Name, req.Description, saID, true, hash, now, now)
	if err != nil {
		return client.APIKey{}, writeErr(err, "API key")
	}
	k, err := s.APIKey(ctx, saID, id)
	k.Body.Key = encodeAPIKey(id, secret)
	return k, err
}

// RotateAPIKey replaces a key's secret.
func (s *Store) RotateAPIKey(ctx context.Context, saID, id string) (client.APIKey, error) {
	secret := auth.RandomSecret(32)
	hash, err := auth.HashSecret(secret)
	if err != nil {
		return client.APIKey{}, err
	}
	now := s.now()
	res, err := s.db.Exec(ctx, "UPDATE api_keys SET key_hash = ?, last_rotated = ?, updated = ? WHERE id = ? AND service_account_id = ?", hash, now, now, id, saID)
	if err != nil {
		return client.APIKey{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return client.APIKey{}, errs.E(errs.NotFound, "API key %s not found", id)
	}
	k, err := s.APIKey(ctx, saID, id)
	k.Body.Key = encodeAPIKey(id, secret)
	return k, err
}

// APIKey returns a key of a service account (without its secret).
func (s *Store) APIKey(ctx context.Context, saID, id string) (client.APIKey, error) {
	k, err := one(ctx, s.db, id, "API key", true, s.getAPIKeys)
	if err == nil && k.Body.ServiceAccountID != saID {
		return client.APIKey{}, errs.E(errs.NotFound, "API key %s not found", id)
	}
	return k, err
}

// ListAPIKeys lists the keys of a service account.
func (s *Store) ListAPIKeys(ctx context.Context, saID string, lq *listQuery) (client.Page[client.APIKey], error) {
	if err := s.isServiceAccount(ctx, saID); err != nil {
		return client.Page[client.APIKey]{}, err
	}
	lq.addScope("service_account_id = ?", saID)
	return pageOf(ctx, s, apiKeySpec, lq, s.getAPIKeys)
}

// DeleteAPIKey removes a key.
func (s *Store) DeleteAPIKey(ctx context.Context, saID, id string) error {
	res, err := s.db.Exec(ctx, "DELETE FROM api_keys WHERE id = ? AND service_account_id = ?", id, saID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.E(errs.NotFound, "API key %s not found", id)
	}
	return nil
}

// CheckAPIKey returns the service account whose active key this is.
func (s *Store) CheckAPIKey(ctx context.Context, key string) (client.User, error) {
	bad := errs.E(errs.Unauthenticated, "the API key is not valid")
	id, secret, ok := decodeAPIKey(key)
	if !ok {
		auth.CheckSecret("", key)
		return client.User{}, bad
	}
	var hash, saID string
	var active bool
	err := s.db.QueryRow(ctx, "SELECT k.key_hash, k.service_account_id, k.active FROM api_keys k WHERE k.id = ?", id).Scan(&hash, &saID, &active)
	if err != nil && err != sql.ErrNoRows {
		return client.User{}, err
	}
	if !auth.CheckSecret(hash, secret) || !active {
		return client.User{}, bad
	}
	sa, err := s.User(ctx, saID, true)
	if err != nil || !sa.Body.Active {
		return client.User{}, bad
	}
	_, _ = s.db.Exec(ctx, "UPDATE api_keys SET last_login = ? WHERE id = ?", s.now(), id)
	return sa, nil
}

func (s *Store) isServiceAccount(ctx context.Context, id string) error {
	var sa bool
	if !validID(id) {
		return errs.E(errs.NotFound, "service account %s not found", id)
	}
	err := s.db.QueryRow(ctx, "SELECT is_service_account FROM users WHERE id = ?", id).Scan(&sa)
	if err != nil || !sa {
		return notFound(sql.ErrNoRows, "service account", id)
	}
	return nil
}
