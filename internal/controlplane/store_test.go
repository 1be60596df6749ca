package controlplane

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/rbac"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// TestStoreConformance runs the same checks of the store on SQLite,
// PostgreSQL and MariaDB.
func TestStoreConformance(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s, err := OpenStore(ctx, url, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()

		// Signing key: made once, then the same.
		k1, err := s.SigningKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		k2, _ := s.SigningKey(ctx)
		if k1.ID != k2.ID {
			t.Fatal("signing key changed between calls")
		}

		// Users: unique names, not-found errors, updates.
		alice := User{Username: "alice", Email: "a@x", Active: true}
		if err := s.CreateUser(ctx, &alice, "hash"); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, &User{Username: "alice"}, ""); !errs.Is(err, errs.Conflict) {
			t.Fatalf("duplicate user: %v", err)
		}
		if _, err := s.UserByUsername(ctx, "nobody"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("missing user: %v", err)
		}
		got, err := s.UserByID(ctx, alice.ID)
		if err != nil || got.passwordHash != "hash" || got.Created.IsZero() {
			t.Fatalf("UserByID = %+v, %v", got, err)
		}
		got.Active = false
		if err := s.UpdateUser(ctx, got); err != nil {
			t.Fatal(err)
		}
		// Updating with the same values still finds the row (MySQL counts matched rows).
		if err := s.UpdateUser(ctx, got); err != nil {
			t.Fatalf("idempotent update: %v", err)
		}
		if err := s.UpdateUser(ctx, User{ID: newID()}); !errs.Is(err, errs.NotFound) {
			t.Fatalf("update missing user: %v", err)
		}
		bob := User{Username: "bob", Active: true}
		if err := s.CreateUser(ctx, &bob, "h"); err != nil {
			t.Fatal(err)
		}

		// Organizations: the creator becomes Admin.
		org := Organization{Name: "acme"}
		if err := s.CreateOrganization(ctx, &org, alice.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateOrganization(ctx, &Organization{Name: "acme"}, bob.ID); !errs.Is(err, errs.Conflict) {
			t.Fatalf("duplicate organization: %v", err)
		}
		as, err := s.AssignmentsOf(ctx, org.ID, alice.ID)
		if err != nil || len(as) != 1 || as[0].Role != rbac.AdminRole {
			t.Fatalf("creator's assignments = %+v, %v", as, err)
		}
		orgs, _ := s.ListOrganizations(ctx, bob.ID)
		if len(orgs) != 0 {
			t.Fatalf("bob sees %v", orgs)
		}

		// Members, teams and team roles.
		if err := s.AddMember(ctx, org.ID, bob.ID, rbac.ViewerRole); err != nil {
			t.Fatal(err)
		}
		if err := s.AddMember(ctx, org.ID, bob.ID, rbac.ViewerRole); !errs.Is(err, errs.Conflict) {
			t.Fatalf("double membership: %v", err)
		}
		if err := s.AddMember(ctx, org.ID, newID(), ""); !errs.Is(err, errs.NotFound) {
			t.Fatalf("membership of a missing user: %v", err)
		}
		team := Team{OrgID: org.ID, Name: "ml"}
		if err := s.CreateTeam(ctx, &team); err != nil {
			t.Fatal(err)
		}
		if err := s.AddTeamMember(ctx, team.ID, bob.ID); err != nil {
			t.Fatal(err)
		}
		outsider := User{Username: "eve", Active: true}
		_ = s.CreateUser(ctx, &outsider, "")
		if err := s.AddTeamMember(ctx, team.ID, outsider.ID); !errs.Is(err, errs.Invalid) {
			t.Fatalf("team member from outside: %v", err)
		}
		ws := Workspace{Name: "ws-1", Organization: OrgRef{ID: org.ID}}
		if err := s.CreateWorkspace(ctx, &ws, "keyhash", alice.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateWorkspace(ctx, &Workspace{Name: "ws-1", Organization: OrgRef{ID: org.ID}}, "", alice.ID); !errs.Is(err, errs.Conflict) {
			t.Fatalf("duplicate workspace: %v", err)
		}
		if err := s.CreateAssignment(ctx, &Assignment{OrgID: org.ID, SubjectType: "team", SubjectID: team.ID, Role: rbac.EditorRole, Scope: rbac.ScopeWorkspace, ScopeID: ws.ID, WorkspaceID: ws.ID}); err != nil {
			t.Fatal(err)
		}
		as, _ = s.AssignmentsOf(ctx, org.ID, bob.ID)
		if len(as) != 2 {
			t.Fatalf("bob's assignments (own + team) = %+v", as)
		}
		vis, _ := s.ListWorkspaces(ctx, WorkspaceFilter{VisibleTo: outsider.ID})
		if len(vis) != 0 {
			t.Fatalf("outsider sees %v", vis)
		}
		vis, _ = s.ListWorkspaces(ctx, WorkspaceFilter{VisibleTo: bob.ID, Name: "ws-1"})
		if len(vis) != 1 || vis[0].Organization.Name != "acme" || !vis[0].Enrolled {
			t.Fatalf("bob sees %+v", vis)
		}

		// Custom roles: in use, they cannot go.
		role := Role{OrgID: org.ID, Name: "runner", Permissions: rbac.Permissions{"pipeline_run": {rbac.Read, rbac.Create}}}
		if err := s.CreateRole(ctx, &role); err != nil {
			t.Fatal(err)
		}
		back, err := s.RoleByID(ctx, role.ID)
		if err != nil || !back.Permissions.Allows("pipeline_run", rbac.Create) {
			t.Fatalf("role read back = %+v, %v", back, err)
		}
		a := Assignment{OrgID: org.ID, SubjectType: "user", SubjectID: bob.ID, Role: role.ID, Scope: rbac.ScopeOrganization, ScopeID: org.ID}
		if err := s.CreateAssignment(ctx, &a); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRole(ctx, role.ID); !errs.Is(err, errs.Conflict) {
			t.Fatalf("delete role in use: %v", err)
		}

		// Shares.
		if err := s.PutShare(ctx, &Share{WorkspaceID: ws.ID, Resource: "p1:secret/s1", SubjectType: "team", SubjectID: team.ID, Actions: []rbac.Action{rbac.Read}}); err != nil {
			t.Fatal(err)
		}
		shares, err := s.SharesOf(ctx, ws.ID, bob.ID)
		if err != nil || len(shares) != 1 || shares[0].Resource.ID != "s1" {
			t.Fatalf("shares = %+v, %v", shares, err)
		}

		// Removing a member removes its roles, team places and shares, together.
		if err := s.RemoveMember(ctx, org.ID, bob.ID); err != nil {
			t.Fatal(err)
		}
		as, _ = s.AssignmentsOf(ctx, org.ID, bob.ID)
		if len(as) != 0 {
			t.Fatalf("assignments left after removal: %+v", as)
		}
		tm, _ := s.TeamByID(ctx, team.ID)
		if len(tm.MemberIDs) != 0 {
			t.Fatalf("team members left: %v", tm.MemberIDs)
		}

		// Status reports and key rotation.
		if err := s.UpdateWorkspaceStatus(ctx, ws.ID, WorkspaceStatus{Version: "0.1.0", Health: "healthy"}); err != nil {
			t.Fatal(err)
		}
		w2, _ := s.WorkspaceByID(ctx, ws.ID)
		if w2.Status.Version != "0.1.0" || w2.Status.LastSeen == nil {
			t.Fatalf("status = %+v", w2.Status)
		}
		if err := s.DeleteOrganization(ctx, org.ID); !errs.Is(err, errs.Conflict) {
			t.Fatalf("delete organization with workspaces: %v", err)
		}
		if err := s.DeleteWorkspace(ctx, ws.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteOrganization(ctx, org.ID); err != nil {
			t.Fatal(err)
		}

		// Invitations are used once.
		org2 := Organization{Name: "beta"}
		_ = s.CreateOrganization(ctx, &org2, alice.ID)
		inv := Invitation{OrgID: org2.ID, Email: "c@x", Role: rbac.ViewerRole, Expires: time.Now().Add(time.Hour)}
		if err := s.CreateInvitation(ctx, &inv, "th", alice.ID); err != nil {
			t.Fatal(err)
		}
		carol := User{Username: "carol", Active: true}
		if err := s.AcceptInvitation(ctx, inv, &carol, "h"); err != nil {
			t.Fatal(err)
		}
		dave := User{Username: "dave", Active: true}
		if err := s.AcceptInvitation(ctx, inv, &dave, "h"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("second use of an invitation: %v", err)
		}
		if _, err := s.UserByUsername(ctx, "dave"); !errs.Is(err, errs.NotFound) {
			t.Fatal("a refused invitation left a user behind")
		}

		// Revoked tokens.
		if err := s.Revoke(ctx, "jti-1", time.Now().Add(time.Hour).Unix()); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.IsRevoked(ctx, "jti-1"); !r {
			t.Fatal("token not revoked")
		}
		if r, _ := s.IsRevoked(ctx, "jti-2"); r {
			t.Fatal("unknown token revoked")
		}
	})
}

// TestSchemaTablesListed: backups dump the schema's tables.
func TestSchemaTablesListed(t *testing.T) { sqldbtest.TablesListed(t, Schema()) }
