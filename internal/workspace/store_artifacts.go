package workspace

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

var artifactSpec = &listSpec{table: "artifacts", fields: baseFields(map[string]field{
	"name":            {col: "name", kind: kString, sort: true},
	"project_id":      {col: "project_id", kind: kID},
	"user_id":         {col: "user_id", kind: kID},
	"has_custom_name": {col: "has_custom_name", kind: kBool},
}), params: projectParams}

func (s *Store) getArtifacts(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.Artifact, error) {
	as, err := byIDs(ctx, q, "id, name, project_id, user_id, has_custom_name, created, updated", "artifacts", ids, func(rows *sql.Rows) (string, client.Artifact, error) {
		var a client.Artifact
		var md client.ArtifactMetadata
		var user sql.NullString
		var created, updated int64
		err := rows.Scan(&a.ID, &a.Name, &a.Body.ProjectID, &user, &md.HasCustomName, &created, &updated)
		a.Body.Created, a.Body.Updated, a.Body.UserID = wireTime(created), wireTime(updated), user.String
		if hydrate {
			a.Metadata = &md
		}
		return a.ID, a, err
	})
	if err != nil || len(as) == 0 {
		return as, err
	}
	// The latest version of each artifact: the newest by creation.
	res, err := versionedResources(ctx, q, tagArtifact, `SELECT v.artifact_id, v.id, v.version FROM artifact_versions v
		WHERE v.artifact_id IN (`+idMarks(ids)+`)
		AND v.created = (SELECT MAX(w.created) FROM artifact_versions w WHERE w.artifact_id = v.artifact_id)`, ids)
	if err != nil {
		return nil, err
	}
	for i := range as {
		as[i].Resources = res[as[i].ID]
	}
	return as, nil
}

// versionedResources reads the resources of ids, things with versions: their
// tags (of tagType), and their latest versions by latestQuery, which selects
// (parent id, version id, version name) for the latest version of each of
// ids. Every id gets its resources, without a latest version if it has none.
func versionedResources(ctx context.Context, q sqldb.Querier, tagType, latestQuery string, ids []string) (map[string]*client.VersionedResources, error) {
	tags, err := tagsOf(ctx, q, tagType, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*client.VersionedResources, len(ids))
	for _, id := range ids {
		out[id] = &client.VersionedResources{Tags: tagRefs(tags, id)}
	}
	rows, err := q.Query(ctx, latestQuery, idArgs(ids)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var parent, id, name string
		if err := rows.Scan(&parent, &id, &name); err != nil {
			return nil, err
		}
		if r := out[parent]; r != nil {
			r.LatestVersionID, r.LatestVersionName = &id, &name
		}
	}
	return out, rows.Err()
}

func (s *Store) Artifact(ctx context.Context, id string, hydrate bool) (client.Artifact, error) {
	return one(ctx, s.db, id, "artifact", hydrate, s.getArtifacts)
}

func (s *Store) ListArtifacts(ctx context.Context, lq *listQuery) (client.Page[client.Artifact], error) {
	tagScope(lq, tagArtifact)
	return pageOf(ctx, s, artifactSpec, lq, s.getArtifacts)
}

func (s *Store) CreateArtifact(ctx context.Context, userID, projectID string, r client.ArtifactRequest) (client.Artifact, error) {
	var id string
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var err error
		id, err = s.insertArtifact(ctx, tx, userID, projectID, r.Name, r.HasCustomName)
		if err != nil {
			return err
		}
		return s.setTags(ctx, tx, tagArtifact, id, userID, r.Tags, nil)
	})
	if err != nil {
		return client.Artifact{}, err
	}
	return s.Artifact(ctx, id, true)
}

func (s *Store) insertArtifact(ctx context.Context, tx *sqldb.Tx, userID, projectID, name string, custom bool) (string, error) {
	id, now := s.idFunc(), s.now()
	_, err := tx.Exec(ctx, "INSERT INTO artifacts (id, name, project_id, user_id, has_custom_name, version_count, created, updated) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
		id, name, projectID, emptyNull(userID), custom, now, now)
	return id, writeErr(err, "artifact")
}

func (s *Store) UpdateArtifact(ctx context.Context, userID, id string, u client.ArtifactUpdate) (client.Artifact, error) {
	sets := updates{}
	sets.add(u.Name != nil, "name", u.Name)
	return updateTagged(ctx, s, artifactsTable, userID, id, sets, u.AddTags, u.RemoveTags, s.Artifact)
}

// DeleteArtifact removes an artifact with its versions.
func (s *Store) DeleteArtifact(ctx context.Context, id string) error {
	return s.deleteTagged(ctx, artifactsTable, id,
		"DELETE FROM tag_resources WHERE resource_type = 'artifact_version' AND resource_id IN (SELECT id FROM artifact_versions WHERE artifact_id = ?)",
		"DELETE FROM run_metadata WHERE resource_type = 'artifact_version' AND resource_id IN (SELECT id FROM artifact_versions WHERE artifact_id = ?)",
		"DELETE FROM step_run_artifacts WHERE artifact_version_id IN (SELECT id FROM artifact_versions WHERE artifact_id = ?)",
		"DELETE FROM artifact_versions WHERE artifact_id = ?")
}

// ---- artifact versions

var artifactVersionSpec = &listSpec{table: "artifact_versions", fields: baseFields(map[string]field{
	"artifact_id":              {col: "artifact_id", kind: kID},
	"version":                  {col: "version", kind: kString},
	"type":                     {col: "type", kind: kString},
	"save_type":                {col: "save_type", kind: kString},
	"project_id":               {col: "project_id", kind: kID},
	"user_id":                  {col: "user_id", kind: kID},
	"producer_pipeline_run_id": {col: "producer_pipeline_run_id", kind: kID},
	"producer_step_run_id":     {col: "producer_step_run_id", kind: kID},
}), params: append([]string{"artifact", "consumed_by_step_id", "only_unused"}, projectParams...)}

const artifactVersionCols = "id, artifact_id, version, project_id, user_id, type, uri, materializer, data_type, save_type, producer_step_run_id, producer_pipeline_run_id, created, updated"

func (s *Store) getArtifactVersions(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.ArtifactVersion, error) {
	vs, err := byIDsJoined(ctx, q, ids, func(rows *sql.Rows) (string, client.ArtifactVersion, error) {
		var v client.ArtifactVersion
		var md client.ArtifactVersionMetadata
		var user, step, run sql.NullString
		var mat, dt string
		var created, updated int64
		b := &v.Body
		err := rows.Scan(&v.ID, &v.Name, &b.ArtifactID, &b.Version, &b.ProjectID, &user, &b.Type, &b.URI, &mat, &dt, &b.SaveType, &step, &run, &created, &updated)
		b.Created, b.Updated, b.UserID = wireTime(created), wireTime(updated), user.String
		b.Materializer, b.DataType = json.RawMessage(mat), json.RawMessage(dt)
		b.ProducerPipelineRunID, md.ProducerStepRunID = strPtr(run), strPtr(step)
		if hydrate {
			v.Metadata = &md
		}
		return v.ID, v, err
	})
	if err != nil || len(vs) == 0 {
		return vs, err
	}
	tags, md, err := tagsAndMetadata(ctx, q, tagArtifactVersion, "artifact_version", ids, hydrate)
	if err != nil {
		return nil, err
	}
	for i := range vs {
		vs[i].Resources = &client.Tagged{Tags: tagRefs(tags, vs[i].ID)}
		if hydrate {
			vs[i].Metadata.RunMetadata = metaMap(md, vs[i].ID)
		}
	}
	return vs, nil
}

// byIDsJoined reads artifact versions with their artifact's name.
func byIDsJoined(ctx context.Context, q sqldb.Querier, ids []string, scan func(*sql.Rows) (string, client.ArtifactVersion, error)) ([]client.ArtifactVersion, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, "SELECT v.id, a.name, v.artifact_id, v.version, v.project_id, v.user_id, v.type, v.uri, v.materializer, v.data_type, v.save_type, v.producer_step_run_id, v.producer_pipeline_run_id, v.created, v.updated FROM artifact_versions v JOIN artifacts a ON a.id = v.artifact_id WHERE v.id IN ("+idMarks(ids)+")", idArgs(ids)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]client.ArtifactVersion{}
	for rows.Next() {
		id, v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		m[id] = v
	}
	out := make([]client.ArtifactVersion, 0, len(m))
	for _, id := range ids {
		if v, ok := m[id]; ok {
			out = append(out, v)
		}
	}
	return out, rows.Err()
}

func (s *Store) ArtifactVersion(ctx context.Context, id string, hydrate bool) (client.ArtifactVersion, error) {
	return one(ctx, s.db, id, "artifact version", hydrate, s.getArtifactVersions)
}

func (s *Store) ListArtifactVersions(ctx context.Context, lq *listQuery) (client.Page[client.ArtifactVersion], error) {
	tagScope(lq, tagArtifactVersion)
	if a := lq.params.Get("artifact"); a != "" {
		lq.addScope("artifact_id IN (SELECT id FROM artifacts WHERE name = ? OR id = ?)", a, a)
	}
	if st := lq.params.Get("consumed_by_step_id"); st != "" {
		if !validID(st) {
			return client.Page[client.ArtifactVersion]{}, errs.E(errs.Invalid, "consumed_by_step_id must be a step id, not %q", st)
		}
		lq.addScope("id IN (SELECT artifact_version_id FROM step_run_artifacts WHERE step_id = ? AND kind = 'input')", strings.ToLower(st))
	}
	// only_unused (the SDK's filter sends it, false by default): versions
	// no step read or wrote.
	unused, err := lq.flag("only_unused")
	if err != nil {
		return client.Page[client.ArtifactVersion]{}, err
	}
	if unused {
		lq.addScope("id NOT IN (SELECT artifact_version_id FROM step_run_artifacts)")
	}
	return pageOf(ctx, s, artifactVersionSpec, lq, s.getArtifactVersions)
}

// CreateArtifactVersion stores a version of an artifact named by id or by
// name (created when missing). Without a version, the next number is used.
func (s *Store) CreateArtifactVersion(ctx context.Context, userID, projectID string, r client.ArtifactVersionRequest) (client.ArtifactVersion, error) {
	var id string
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var err error
		id, err = s.writeArtifactVersion(ctx, tx, userID, projectID, r)
		return err
	})
	if err != nil {
		return client.ArtifactVersion{}, err
	}
	return s.ArtifactVersion(ctx, id, true)
}

// CreateArtifactVersions creates rs, rs[i] in project projectIDs[i], in
// one transaction: all of them or, if one fails, none.
func (s *Store) CreateArtifactVersions(ctx context.Context, userID string, projectIDs []string, rs []client.ArtifactVersionRequest) ([]client.ArtifactVersion, error) {
	ids := make([]string, len(rs))
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		for i, r := range rs {
			var err error
			if ids[i], err = s.writeArtifactVersion(ctx, tx, userID, projectIDs[i], r); err != nil {
				return itemErr(i, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.getArtifactVersions(ctx, s.db, ids, true)
}

// itemErr says which item of a batch err is about, when err is the
// client's to see.
func itemErr(i int, err error) error {
	if k := errs.KindOf(err); k != errs.Other {
		return errs.E(k, "item %d: %s", i, errs.Message(err))
	}
	return err
}

// writeArtifactVersion writes one artifact version within tx (its artifact
// too, when the request names a new one) and returns its id.
func (s *Store) writeArtifactVersion(ctx context.Context, tx *sqldb.Tx, userID, projectID string, r client.ArtifactVersionRequest) (string, error) {
	id := s.idFunc()
	artifactID := r.ArtifactID
	if artifactID != "" {
		var p string
		if err := tx.QueryRow(ctx, "SELECT project_id FROM artifacts WHERE id = ?", artifactID).Scan(&p); err != nil {
			return "", notFound(err, "artifact", artifactID)
		}
		if p != projectID {
			return "", errs.E(errs.Invalid, "artifact %s belongs to another project", artifactID)
		}
	} else {
		err := tx.QueryRow(ctx, "SELECT id FROM artifacts WHERE project_id = ? AND name = ?", projectID, r.ArtifactName).Scan(&artifactID)
		if errors.Is(err, sql.ErrNoRows) {
			artifactID, err = s.insertArtifact(ctx, tx, userID, projectID, r.ArtifactName, r.HasCustomName)
		}
		if err != nil {
			return "", err
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE artifacts SET version_count = version_count + 1, updated = ? WHERE id = ?", s.now(), artifactID); err != nil {
		return "", err
	}
	if r.Version == "" {
		var n int64
		if err := tx.QueryRow(ctx, "SELECT version_count FROM artifacts WHERE id = ?", artifactID).Scan(&n); err != nil {
			return "", err
		}
		r.Version = strconv.FormatInt(n, 10)
	}
	if r.SaveType == "" {
		r.SaveType = "step_output"
	}
	now := s.now()
	_, err := tx.Exec(ctx, "INSERT INTO artifact_versions ("+artifactVersionCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)",
		id, artifactID, r.Version, projectID, emptyNull(userID), r.Type, r.URI, rawOr(r.Materializer, "null"), rawOr(r.DataType, "null"), r.SaveType, now, now)
	if err != nil {
		return "", writeErr(err, "artifact version")
	}
	return id, s.setTags(ctx, tx, tagArtifactVersion, id, userID, r.Tags, nil)
}

func (s *Store) UpdateArtifactVersion(ctx context.Context, userID, id string, u client.ArtifactVersionUpdate) (client.ArtifactVersion, error) {
	return updateTagged(ctx, s, artifactVersionsTable, userID, id, updates{}, u.AddTags, u.RemoveTags, s.ArtifactVersion)
}

func (s *Store) DeleteArtifactVersion(ctx context.Context, id string) error {
	return s.deleteTagged(ctx, artifactVersionsTable, id, "DELETE FROM step_run_artifacts WHERE artifact_version_id = ?")
}
