package workspace

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// Taggable resource types, as tag_resources names them.
const (
	tagPipeline        = "pipeline"
	tagSnapshot        = "pipeline_snapshot"
	tagRun             = "pipeline_run"
	tagArtifact        = "artifact"
	tagArtifactVersion = "artifact_version"
	tagModel           = "model"
	tagModelVersion    = "model_version"
)

var tagSpec = &listSpec{table: "tags", fields: baseFields(map[string]field{
	"name":      {col: "name", kind: kString, sort: true},
	"color":     {col: "color", kind: kString, enum: client.TagColors},
	"exclusive": {col: "is_exclusive", kind: kBool},
	"user_id":   {col: "user_id", kind: kID},
}), params: []string{"user", "resource_type"}}

func (s *Store) getTags(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.Tag, error) {
	ts, err := byIDs(ctx, q, "id, name, color, is_exclusive, user_id, created, updated", "tags", ids, func(rows *sql.Rows) (string, client.Tag, error) {
		var t client.Tag
		var user sql.NullString
		var created, updated int64
		err := rows.Scan(&t.ID, &t.Name, &t.Body.Color, &t.Body.Exclusive, &user, &created, &updated)
		t.Body.Created, t.Body.Updated, t.Body.UserID = wireTime(created), wireTime(updated), user.String
		if hydrate {
			t.Metadata = &client.NoResources{}
		}
		t.Resources = &client.NoResources{}
		return t.ID, t, err
	})
	if err != nil || len(ts) == 0 {
		return ts, err
	}
	counts, err := countsBy(ctx, q, "SELECT tag_id, COUNT(*) FROM tag_resources WHERE tag_id IN ("+idMarks(ids)+") GROUP BY tag_id", idArgs(ids)...)
	if err != nil {
		return nil, err
	}
	for i := range ts {
		ts[i].Body.TaggedCount = counts[ts[i].ID]
	}
	return ts, nil
}

func (s *Store) Tag(ctx context.Context, ref string, hydrate bool) (client.Tag, error) {
	id, err := s.ref(ctx, s.db, "tags", "tag", ref, "")
	if err != nil {
		return client.Tag{}, err
	}
	return one(ctx, s.db, id, "tag", hydrate, s.getTags)
}

func (s *Store) ListTags(ctx context.Context, lq *listQuery) (client.Page[client.Tag], error) {
	if rt := lq.params.Get("resource_type"); rt != "" {
		lq.addScope("id IN (SELECT tag_id FROM tag_resources WHERE resource_type = ?)", rt)
	}
	return pageOf(ctx, s, tagSpec, lq, s.getTags)
}

func (s *Store) CreateTag(ctx context.Context, userID string, r client.TagRequest) (client.Tag, error) {
	if r.Color == "" {
		r.Color = "grey"
	}
	id, now := s.idFunc(), s.now()
	_, err := s.db.Exec(ctx, "INSERT INTO tags (id, name, color, is_exclusive, user_id, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
		id, r.Name, r.Color, r.Exclusive, emptyNull(userID), now, now)
	if err != nil {
		return client.Tag{}, writeErr(err, "tag")
	}
	return s.Tag(ctx, id, true)
}

func (s *Store) UpdateTag(ctx context.Context, id string, u client.TagUpdate) (client.Tag, error) {
	sets := updates{}
	sets.add(u.Name != nil, "name", u.Name)
	sets.add(u.Color != nil, "color", u.Color)
	sets.add(u.Exclusive != nil, "is_exclusive", u.Exclusive)
	err := s.runTx(ctx, func(tx *sqldb.Tx, changed func(...string)) error {
		if u.Name != nil || u.Color != nil {
			changed(allRuns) // runs show their tags' names and colors
		}
		return s.update(ctx, tx, "tags", "tag", id, sets)
	})
	if err != nil {
		return client.Tag{}, err
	}
	return s.Tag(ctx, id, true)
}

func (s *Store) DeleteTag(ctx context.Context, id string) error {
	return s.runTx(ctx, func(tx *sqldb.Tx, changed func(...string)) error {
		changed(allRuns)
		return s.deleteRow(ctx, tx, "tags", "tag", id)
	})
}

// setTags adds and removes tags (by name) on one resource, creating tags
// that do not exist yet. An exclusive tag moves: it leaves whichever other
// resource of the same type had it.
func (s *Store) setTags(ctx context.Context, tx sqldb.Querier, rtype, rid, userID string, add, remove []string) error {
	for _, name := range remove {
		if _, err := tx.Exec(ctx, "DELETE FROM tag_resources WHERE resource_type = ? AND resource_id = ? AND tag_id IN (SELECT id FROM tags WHERE name = ?)", rtype, rid, name); err != nil {
			return err
		}
	}
	for _, name := range add {
		if slices.Contains(remove, name) {
			continue
		}
		var tagID string
		var exclusive bool
		err := tx.QueryRow(ctx, "SELECT id, is_exclusive FROM tags WHERE name = ?", name).Scan(&tagID, &exclusive)
		if errors.Is(err, sql.ErrNoRows) {
			tagID = s.idFunc()
			now := s.now()
			_, err = tx.Exec(ctx, "INSERT INTO tags (id, name, color, is_exclusive, user_id, created, updated) VALUES (?, ?, 'grey', ?, ?, ?, ?)", tagID, name, false, emptyNull(userID), now, now)
		}
		if err != nil {
			return writeErr(err, "tag")
		}
		if exclusive {
			if _, err := tx.Exec(ctx, "DELETE FROM tag_resources WHERE tag_id = ? AND resource_type = ?", tagID, rtype); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM tag_resources WHERE tag_id = ? AND resource_type = ? AND resource_id = ?", tagID, rtype, rid).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := tx.Exec(ctx, "INSERT INTO tag_resources (tag_id, resource_type, resource_id, created) VALUES (?, ?, ?, ?)", tagID, rtype, rid, s.now()); err != nil {
				return writeErr(err, "tag")
			}
		}
	}
	return nil
}

// tagsOf returns the tags of many resources of one type in one query.
func tagsOf(ctx context.Context, q sqldb.Querier, rtype string, ids []string) (map[string][]client.TagRef, error) {
	out := map[string][]client.TagRef{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, "SELECT tr.resource_id, t.id, t.name, t.color FROM tag_resources tr JOIN tags t ON t.id = tr.tag_id WHERE tr.resource_type = ? AND tr.resource_id IN ("+idMarks(ids)+") ORDER BY t.name",
		append([]any{rtype}, idArgs(ids)...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var rid string
		var t client.TagRef
		if err := rows.Scan(&rid, &t.ID, &t.Name, &t.Color); err != nil {
			return nil, err
		}
		out[rid] = append(out[rid], t)
	}
	return out, rows.Err()
}

// tagRefs never returns nil, so that "tags" is [] rather than null.
func tagRefs(m map[string][]client.TagRef, id string) []client.TagRef {
	if t := m[id]; t != nil {
		return t
	}
	return []client.TagRef{}
}

// tagScope narrows a list to resources carrying the tag named in the "tag"
// parameter.
func tagScope(lq *listQuery, rtype string) {
	if t := lq.params.Get("tag"); t != "" {
		lq.addScope("id IN (SELECT tr.resource_id FROM tag_resources tr JOIN tags t ON t.id = tr.tag_id WHERE tr.resource_type = ? AND t.name = ?)", rtype, t)
	}
}

// forgetResource removes the tags and metadata of a deleted resource.
func forgetResource(ctx context.Context, q sqldb.Querier, rtype, id string) error {
	if _, err := q.Exec(ctx, "DELETE FROM tag_resources WHERE resource_type = ? AND resource_id = ?", rtype, id); err != nil {
		return err
	}
	_, err := q.Exec(ctx, "DELETE FROM run_metadata WHERE resource_type = ? AND resource_id = ?", rtype, id)
	return err
}

// ---- run metadata

// metadataTypes are what run metadata can be attached to, and their tables.
var metadataTypes = map[string]string{
	"pipeline_run": "pipeline_runs", "step_run": "step_runs",
	"artifact_version": "artifact_versions", "model_version": "model_versions",
}

// AddRunMetadata stores values on every resource named, replacing values of
// the same keys. Every resource must exist, or nothing is written.
func (s *Store) AddRunMetadata(ctx context.Context, userID string, r client.RunMetadataRequest) error {
	return s.runTx(ctx, func(tx *sqldb.Tx, changed func(...string)) error {
		for _, res := range r.Resources {
			res.ID = strings.ToLower(res.ID) // ids are UUIDs, stored in lower case
			if res.Type == "pipeline_run" {
				changed(res.ID)
			}
			var n int
			if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM "+metadataTypes[res.Type]+" WHERE id = ?", res.ID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return errs.E(errs.NotFound, "%s %s not found", res.Type, res.ID)
			}
			for k, v := range r.Values {
				b, err := json.Marshal(v)
				if err != nil {
					return errs.E(errs.Invalid, "values: %s: %v", k, err)
				}
				typ := r.Types[k]
				if typ == "" {
					typ = "str"
				}
				if _, err := tx.Exec(ctx, "DELETE FROM run_metadata WHERE resource_type = ? AND resource_id = ? AND mkey = ?", res.Type, res.ID, k); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, "INSERT INTO run_metadata (resource_type, resource_id, mkey, mvalue, mtype, publisher_step_id, user_id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
					res.Type, res.ID, k, string(b), typ, nullStr(r.PublisherStepID), emptyNull(userID), s.now()); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// metadataOf returns the run metadata of many resources in one query.
func metadataOf(ctx context.Context, q sqldb.Querier, rtype string, ids []string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, "SELECT resource_id, mkey, mvalue FROM run_metadata WHERE resource_type = ? AND resource_id IN ("+idMarks(ids)+")",
		append([]any{rtype}, idArgs(ids)...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var rid, k, v string
		if err := rows.Scan(&rid, &k, &v); err != nil {
			return nil, err
		}
		if out[rid] == nil {
			out[rid] = map[string]any{}
		}
		out[rid][k] = metaValue(v)
	}
	return out, rows.Err()
}

// metaValue reads a metadata value, stored as JSON text.
func metaValue(v string) any {
	var val any
	_ = json.Unmarshal([]byte(v), &val)
	return val
}

// tagsAndMetadata reads the tags (of tag resource type tagType) of the
// resources ids and, when hydrate, their run metadata (of resource type
// mdType), for the reads that return both.
func tagsAndMetadata(ctx context.Context, q sqldb.Querier, tagType, mdType string, ids []string, hydrate bool) (map[string][]client.TagRef, map[string]map[string]any, error) {
	tags, err := tagsOf(ctx, q, tagType, ids)
	if err != nil || !hydrate {
		return tags, nil, err
	}
	md, err := metadataOf(ctx, q, mdType, ids)
	return tags, md, err
}

func metaMap(m map[string]map[string]any, id string) map[string]any {
	if v := m[id]; v != nil {
		return v
	}
	return map[string]any{}
}
