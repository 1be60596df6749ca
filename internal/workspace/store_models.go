package workspace

import (
	"context"
	"database/sql"
	"strconv"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

var modelSpec = &listSpec{table: "models", fields: baseFields(map[string]field{
	"name":       {col: "name", kind: kString, sort: true},
	"project_id": {col: "project_id", kind: kID},
	"user_id":    {col: "user_id", kind: kID},
}), params: projectParams}

const modelCols = "id, name, project_id, user_id, description, license, audience, use_cases, limitations, trade_offs, ethics, created, updated"

func (s *Store) getModels(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.Model, error) {
	ms, err := byIDs(ctx, q, modelCols, "models", ids, func(rows *sql.Rows) (string, client.Model, error) {
		var m client.Model
		var md client.ModelMetadata
		var user sql.NullString
		var created, updated int64
		err := rows.Scan(&m.ID, &m.Name, &m.Body.ProjectID, &user, &md.Description, &md.License, &md.Audience, &md.UseCases,
			&md.Limitations, &md.TradeOffs, &md.Ethics, &created, &updated)
		m.Body.Created, m.Body.Updated, m.Body.UserID = wireTime(created), wireTime(updated), user.String
		if hydrate {
			m.Metadata = &md
		}
		return m.ID, m, err
	})
	if err != nil || len(ms) == 0 {
		return ms, err
	}
	// The latest version of each model: the highest number.
	res, err := versionedResources(ctx, q, tagModel, `SELECT v.model_id, v.id, v.name FROM model_versions v
		WHERE v.model_id IN (`+idMarks(ids)+`)
		AND v.number = (SELECT MAX(w.number) FROM model_versions w WHERE w.model_id = v.model_id)`, ids)
	if err != nil {
		return nil, err
	}
	for i := range ms {
		ms[i].Resources = res[ms[i].ID]
	}
	return ms, nil
}

func (s *Store) Model(ctx context.Context, id string, hydrate bool) (client.Model, error) {
	return one(ctx, s.db, id, "model", hydrate, s.getModels)
}

func (s *Store) ListModels(ctx context.Context, lq *listQuery) (client.Page[client.Model], error) {
	tagScope(lq, tagModel)
	return pageOf(ctx, s, modelSpec, lq, s.getModels)
}

func (s *Store) CreateModel(ctx context.Context, userID, projectID string, r client.ModelRequest) (client.Model, error) {
	id := s.idFunc()
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		now := s.now()
		_, err := tx.Exec(ctx, "INSERT INTO models ("+modelCols+", version_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
			id, r.Name, projectID, emptyNull(userID), r.Description, r.License, r.Audience, r.UseCases, r.Limitations, r.TradeOffs, r.Ethics, now, now)
		if err != nil {
			return writeErr(err, "model")
		}
		return s.setTags(ctx, tx, tagModel, id, userID, r.Tags, nil)
	})
	if err != nil {
		return client.Model{}, err
	}
	return s.Model(ctx, id, true)
}

func (s *Store) UpdateModel(ctx context.Context, userID, id string, u client.ModelUpdate) (client.Model, error) {
	sets := updates{}
	sets.add(u.Name != nil, "name", u.Name)
	sets.add(u.Description != nil, "description", u.Description)
	sets.add(u.License != nil, "license", u.License)
	sets.add(u.Audience != nil, "audience", u.Audience)
	sets.add(u.UseCases != nil, "use_cases", u.UseCases)
	sets.add(u.Limitations != nil, "limitations", u.Limitations)
	sets.add(u.TradeOffs != nil, "trade_offs", u.TradeOffs)
	sets.add(u.Ethics != nil, "ethics", u.Ethics)
	return updateTagged(ctx, s, modelsTable, userID, id, sets, u.AddTags, u.RemoveTags, s.Model)
}

func (s *Store) DeleteModel(ctx context.Context, id string) error {
	return s.deleteTagged(ctx, modelsTable, id,
		"DELETE FROM tag_resources WHERE resource_type = 'model_version' AND resource_id IN (SELECT id FROM model_versions WHERE model_id = ?)",
		"DELETE FROM run_metadata WHERE resource_type = 'model_version' AND resource_id IN (SELECT id FROM model_versions WHERE model_id = ?)",
		"DELETE FROM model_versions WHERE model_id = ?")
}

// ---- model versions

var modelVersionSpec = &listSpec{table: "model_versions", fields: baseFields(map[string]field{
	"name":       {col: "name", kind: kString},
	"number":     {col: "number", kind: kInt},
	"stage":      {col: "stage", kind: kString, enum: client.ModelStages},
	"model_id":   {col: "model_id", kind: kID},
	"project_id": {col: "project_id", kind: kID},
	"user_id":    {col: "user_id", kind: kID},
}), params: append([]string{"model"}, projectParams...)}

const modelVersionCols = "id, name, model_id, number, description, stage, project_id, user_id, created, updated"

func (s *Store) getModelVersions(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.ModelVersion, error) {
	vs, err := byIDs(ctx, q, modelVersionCols, "model_versions", ids, func(rows *sql.Rows) (string, client.ModelVersion, error) {
		var v client.ModelVersion
		var md client.ModelVersionMetadata
		var user sql.NullString
		var created, updated int64
		err := rows.Scan(&v.ID, &v.Name, &v.Body.ModelID, &v.Body.Number, &md.Description, &v.Body.Stage, &v.Body.ProjectID, &user, &created, &updated)
		v.Body.Created, v.Body.Updated, v.Body.UserID = wireTime(created), wireTime(updated), user.String
		if hydrate {
			v.Metadata = &md
		}
		return v.ID, v, err
	})
	if err != nil || len(vs) == 0 {
		return vs, err
	}
	tags, md, err := tagsAndMetadata(ctx, q, tagModelVersion, "model_version", ids, hydrate)
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

func (s *Store) ModelVersion(ctx context.Context, id string, hydrate bool) (client.ModelVersion, error) {
	return one(ctx, s.db, id, "model version", hydrate, s.getModelVersions)
}

func (s *Store) ListModelVersions(ctx context.Context, lq *listQuery) (client.Page[client.ModelVersion], error) {
	tagScope(lq, tagModelVersion)
	if m := lq.params.Get("model"); m != "" {
		lq.addScope("model_id IN (SELECT id FROM models WHERE name = ? OR id = ?)", m, m)
	}
	return pageOf(ctx, s, modelVersionSpec, lq, s.getModelVersions)
}

// CreateModelVersion numbers the new version after the model's last; its
// name defaults to the number.
func (s *Store) CreateModelVersion(ctx context.Context, userID, projectID string, r client.ModelVersionRequest) (client.ModelVersion, error) {
	id := s.idFunc()
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		modelID, err := s.ref(ctx, tx, "models", "model", r.Model, projectID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE models SET version_count = version_count + 1 WHERE id = ?", modelID); err != nil {
			return err
		}
		var n int64
		if err := tx.QueryRow(ctx, "SELECT version_count FROM models WHERE id = ?", modelID).Scan(&n); err != nil {
			return err
		}
		if r.Name == "" {
			r.Name = strconv.FormatInt(n, 10)
		}
		now := s.now()
		_, err = tx.Exec(ctx, "INSERT INTO model_versions ("+modelVersionCols+") VALUES (?, ?, ?, ?, ?, 'none', ?, ?, ?, ?)",
			id, r.Name, modelID, n, r.Description, projectID, emptyNull(userID), now, now)
		if err != nil {
			return writeErr(err, "model version")
		}
		return s.setTags(ctx, tx, tagModelVersion, id, userID, r.Tags, nil)
	})
	if err != nil {
		return client.ModelVersion{}, err
	}
	return s.ModelVersion(ctx, id, true)
}

// UpdateModelVersion changes a version; moving it to a stage another version
// of the model holds needs force, which archives the other.
func (s *Store) UpdateModelVersion(ctx context.Context, userID, id string, u client.ModelVersionUpdate) (client.ModelVersion, error) {
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if u.Stage != nil && (*u.Stage == "staging" || *u.Stage == "production") {
			var modelID string
			if err := tx.QueryRow(ctx, "SELECT model_id FROM model_versions WHERE id = ?", id).Scan(&modelID); err != nil {
				return notFound(err, "model version", id)
			}
			var holder string
			err := tx.QueryRow(ctx, "SELECT id FROM model_versions WHERE model_id = ? AND stage = ? AND id <> ?", modelID, *u.Stage, id).Scan(&holder)
			switch {
			case err == sql.ErrNoRows:
			case err != nil:
				return err
			case !u.Force:
				return errs.E(errs.Conflict, "version %s of the model is in stage %s already: set force to move the stage", holder, *u.Stage)
			default:
				if _, err := tx.Exec(ctx, "UPDATE model_versions SET stage = 'archived', updated = ? WHERE id = ?", s.now(), holder); err != nil {
					return err
				}
			}
		}
		sets := updates{}
		sets.add(u.Name != nil, "name", u.Name)
		sets.add(u.Description != nil, "description", u.Description)
		sets.add(u.Stage != nil, "stage", u.Stage)
		return s.updateTaggedTx(ctx, tx, modelVersionsTable, userID, id, sets, u.AddTags, u.RemoveTags)
	})
	if err != nil {
		return client.ModelVersion{}, err
	}
	return s.ModelVersion(ctx, id, true)
}

func (s *Store) DeleteModelVersion(ctx context.Context, id string) error {
	return s.deleteTagged(ctx, modelVersionsTable, id)
}
