package workspace

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sort"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

var stackSpec = &listSpec{table: "stacks", fields: baseFields(map[string]field{
	"name":    {col: "name", kind: kString, sort: true},
	"user_id": {col: "user_id", kind: kID},
}), params: []string{"user", "component_id"}}

func scanStack(rows *sql.Rows) (string, client.Stack, error) {
	var st client.Stack
	var md client.StackMetadata
	var user sql.NullString
	var created, updated int64
	err := rows.Scan(&st.ID, &st.Name, &md.Description, &user, &created, &updated)
	st.Body.Created, st.Body.Updated, st.Body.UserID = wireTime(created), wireTime(updated), user.String
	st.Metadata, st.Resources = &md, &client.NoResources{}
	return st.ID, st, err
}

// getStacks reads stacks and, hydrated, their components in one more query.
func (s *Store) getStacks(ctx context.Context, q sqldb.Querier, ids []string, hydrate bool) ([]client.Stack, error) {
	sts, err := byIDs(ctx, q, "id, name, description, user_id, created, updated", "stacks", ids, scanStack)
	if err != nil || len(sts) == 0 {
		return sts, err
	}
	if !hydrate {
		for i := range sts {
			sts[i].Metadata = nil
		}
		return sts, nil
	}
	rows, err := q.Query(ctx, "SELECT sc.stack_id, c."+componentColsPrefixed+" FROM stack_composition sc JOIN stack_components c ON c.id = sc.component_id WHERE sc.stack_id IN ("+idMarks(ids)+")", idArgs(ids)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byStack := map[string]map[string][]client.Component{}
	for rows.Next() {
		var stackID string
		var c client.Component
		var conf, labels string
		var user sql.NullString
		var created, updated int64
		if err := rows.Scan(&stackID, &c.ID, &c.Name, &c.Body.Type, &c.Body.FlavorName, &conf, &labels, &user, &created, &updated); err != nil {
			return nil, err
		}
		c.Body.Created, c.Body.Updated, c.Body.UserID = wireTime(created), wireTime(updated), user.String
		if byStack[stackID] == nil {
			byStack[stackID] = map[string][]client.Component{}
		}
		byStack[stackID][c.Body.Type] = append(byStack[stackID][c.Body.Type], c)
	}
	for i := range sts {
		sts[i].Metadata.Components = byStack[sts[i].ID]
		if sts[i].Metadata.Components == nil {
			sts[i].Metadata.Components = map[string][]client.Component{}
		}
	}
	return sts, rows.Err()
}

const componentColsPrefixed = "id, c.name, c.type, c.flavor, c.configuration, c.labels, c.user_id, c.created, c.updated"

func (s *Store) Stack(ctx context.Context, id string, hydrate bool) (client.Stack, error) {
	return one(ctx, s.db, id, "stack", hydrate, s.getStacks)
}

func (s *Store) ListStacks(ctx context.Context, lq *listQuery) (client.Page[client.Stack], error) {
	if c := lq.params.Get("component_id"); c != "" {
		lq.addScope("id IN (SELECT stack_id FROM stack_composition WHERE component_id = ?)", c)
	}
	return pageOf(ctx, s, stackSpec, lq, s.getStacks)
}

// checkComposition checks that every component exists with the type it is
// listed under, that no type has two, and that the stack can run.
func (s *Store) checkComposition(ctx context.Context, q sqldb.Querier, comps map[string][]string) ([]string, error) {
	var ids []string
	for typ, list := range comps {
		if !slices.Contains(componentTypes, typ) {
			return nil, errs.E(errs.Invalid, "components: %q is not a component type", typ)
		}
		if len(list) != 1 {
			return nil, errs.E(errs.Invalid, "components: a stack has exactly one %s, not %d", typ, len(list))
		}
		if !validID(list[0]) {
			return nil, errs.E(errs.Invalid, "components: %s %q is not an id", typ, list[0])
		}
		var got string
		err := q.QueryRow(ctx, "SELECT type FROM stack_components WHERE id = ?", list[0]).Scan(&got)
		if err != nil {
			return nil, notFound(err, "stack component", list[0])
		}
		if got != typ {
			return nil, errs.E(errs.Invalid, "components: %s is a %s, not a %s", list[0], got, typ)
		}
		ids = append(ids, list[0])
	}
	for _, need := range []string{"orchestrator", "artifact_store"} {
		if len(comps[need]) == 0 {
			return nil, errs.E(errs.Invalid, "components: a stack needs an %s", need)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

func (s *Store) CreateStack(ctx context.Context, userID string, r client.StackRequest) (client.Stack, error) {
	id := s.idFunc()
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		comps, err := s.checkComposition(ctx, tx, r.Components)
		if err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.Exec(ctx, "INSERT INTO stacks (id, name, description, user_id, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
			id, r.Name, r.Description, emptyNull(userID), now, now); err != nil {
			return writeErr(err, "stack")
		}
		return s.setComposition(ctx, tx, id, comps)
	})
	if err != nil {
		return client.Stack{}, err
	}
	return s.Stack(ctx, id, true)
}

func (s *Store) setComposition(ctx context.Context, tx *sqldb.Tx, stackID string, comps []string) error {
	if _, err := tx.Exec(ctx, "DELETE FROM stack_composition WHERE stack_id = ?", stackID); err != nil {
		return err
	}
	for _, c := range comps {
		if _, err := tx.Exec(ctx, "INSERT INTO stack_composition (stack_id, component_id) VALUES (?, ?)", stackID, c); err != nil {
			return writeErr(err, "stack")
		}
	}
	return nil
}

func (s *Store) UpdateStack(ctx context.Context, id string, u client.StackUpdate) (client.Stack, error) {
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		sets := updates{}
		sets.add(u.Name != nil, "name", u.Name)
		sets.add(u.Description != nil, "description", u.Description)
		if err := s.update(ctx, tx, "stacks", "stack", id, sets); err != nil {
			return err
		}
		if u.Components == nil {
			return nil
		}
		comps, err := s.checkComposition(ctx, tx, u.Components)
		if err != nil {
			return err
		}
		return s.setComposition(ctx, tx, id, comps)
	})
	if err != nil {
		return client.Stack{}, err
	}
	return s.Stack(ctx, id, true)
}

// DeleteStack removes a stack; runs on it stay, without it.
func (s *Store) DeleteStack(ctx context.Context, id string) error {
	return s.runTx(ctx, func(tx *sqldb.Tx, changed func(...string)) error {
		changed(allRuns)
		return s.deleteRow(ctx, tx, "stacks", "stack", id)
	})
}

// EnsureDefaults creates what a fresh server starts with: the built-in
// flavors, a "default" project, and a "default" stack of a local
// orchestrator and artifact store. It is safe to run on every start. It
// looks before it writes, so that a start of a server whose defaults exist
// puts no failed insert in the database's log; a conflict with another
// server starting at the same moment is still taken as done.
func (s *Store) EnsureDefaults(ctx context.Context, dataDir string) error {
	have := map[[2]string]bool{}
	rows, err := s.db.Query(ctx, "SELECT type, name FROM flavors")
	if err != nil {
		return err
	}
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			rows.Close()
			return err
		}
		have[k] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, f := range builtinFlavors {
		if have[[2]string{f.Type, f.Name}] {
			continue
		}
		if _, err := s.CreateFlavor(ctx, "", f); err != nil && !errs.Is(err, errs.Conflict) {
			return err
		}
	}
	if _, err := s.ProjectID(ctx, "default"); errs.Is(err, errs.NotFound) {
		if _, err := s.CreateProject(ctx, client.ProjectRequest{Name: "default", Description: "The default project."}); err != nil && !errs.Is(err, errs.Conflict) {
			return err
		}
	} else if err != nil {
		return err
	}
	if _, err := s.ref(ctx, s.db, "stacks", "stack", "default", ""); err == nil {
		return nil
	}
	orch, err := s.CreateComponent(ctx, "", client.ComponentRequest{Name: "default", Type: "orchestrator", Flavor: "local"})
	if err != nil && !errs.Is(err, errs.Conflict) {
		return err
	}
	store, err := s.CreateComponent(ctx, "", client.ComponentRequest{Name: "default", Type: "artifact_store", Flavor: "local",
		Configuration: map[string]any{"path": dataDir + "/artifacts"}})
	if err != nil && !errs.Is(err, errs.Conflict) {
		return err
	}
	if orch.ID == "" || store.ID == "" {
		return nil // a concurrent start made them
	}
	_, err = s.CreateStack(ctx, "", client.StackRequest{Name: "default", Components: map[string][]string{
		"orchestrator": {orch.ID}, "artifact_store": {store.ID}}})
	if err != nil && !errs.Is(err, errs.Conflict) {
		return err
	}
	return nil
}
