package workspace

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

var codeRepoSpec = &listSpec{table: "code_repositories", fields: baseFields(map[string]field{
	"name":       {col: "name", kind: kString, sort: true},
	"project_id": {col: "project_id", kind: kID},
	"user_id":    {col: "user_id", kind: kID},
}), params: []string{"project", "user"}}

const codeRepoCols = "id, name, project_id, user_id, source, config, logo_url, description, created, updated"

func (s *Store) getCodeRepos(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.CodeRepository, error) {
	return byIDs(ctx, q, codeRepoCols, "code_repositories", ids, func(rows *sql.Rows) (string, client.CodeRepository, error) {
		var c client.CodeRepository
		var user, logo, desc sql.NullString
		var source, config string
		var created, updated int64
		err := rows.Scan(&c.ID, &c.Name, &c.Body.ProjectID, &user, &source, &config, &logo, &desc, &created, &updated)
		b := &c.Body
		b.Created, b.Updated, b.UserID = wireTime(created), wireTime(updated), user.String
		b.Source, b.LogoURL = json.RawMessage(source), strPtr(logo)
		c.Resources = &client.NoResources{}
		if hydrate {
			c.Metadata = &client.CodeRepositoryMetadata{Config: decodeMap(config), Description: strPtr(desc)}
		}
		return c.ID, c, err
	})
}

func (s *Store) CodeRepository(ctx context.Context, id string, hydrate bool) (client.CodeRepository, error) {
	return one(ctx, s.db, id, "code repository", hydrate, s.getCodeRepos)
}

func (s *Store) ListCodeRepositories(ctx context.Context, lq *listQuery) (client.Page[client.CodeRepository], error) {
	return pageOf(ctx, s, codeRepoSpec, lq, s.getCodeRepos)
}

// CreateCodeRepository stores a repository of project projectID; r.Source
// is a checked JSON object.
func (s *Store) CreateCodeRepository(ctx context.Context, userID, projectID string, r client.CodeRepositoryRequest) (client.CodeRepository, error) {
	id, now := s.idFunc(), s.now()
	_, err := s.db.Exec(ctx, "INSERT INTO code_repositories ("+codeRepoCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		id, r.Name, projectID, emptyNull(userID), string(r.Source), jsonText(r.Config), r.LogoURL, r.Description, now, now)
	if err != nil {
		return client.CodeRepository{}, writeErr(err, "code repository")
	}
	return s.CodeRepository(ctx, id, true)
}

func (s *Store) UpdateCodeRepository(ctx context.Context, id string, u client.CodeRepositoryUpdate) (client.CodeRepository, error) {
	sets := updates{}
	sets.add(u.Name != nil, "name", u.Name)
	sets.add(u.Config != nil, "config", jsonText(u.Config))
	sets.add(u.LogoURL != nil, "logo_url", u.LogoURL)
	sets.add(u.Description != nil, "description", u.Description)
	if err := s.update(ctx, s.db, "code_repositories", "code repository", id, sets); err != nil {
		return client.CodeRepository{}, err
	}
	return s.CodeRepository(ctx, id, true)
}

func (s *Store) DeleteCodeRepository(ctx context.Context, id string) error {
	return s.deleteRow(ctx, s.db, "code_repositories", "code repository", id)
}
