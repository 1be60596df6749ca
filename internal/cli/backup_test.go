package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/controlplane"
	"github.com/enclave-mlops/enclave/internal/runner"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
	"github.com/enclave-mlops/enclave/internal/workspace"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd(strings.NewReader(""), &out, &out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestBackupMovesAControlPlaneToPostgreSQL backs up a control plane on SQLite
// (as `enclave up` keeps it) and restores it into PostgreSQL, where the same
// people log in with the same passwords.
func TestBackupMovesAControlPlaneToPostgreSQL(t *testing.T) {
	ctx := context.Background()
	srcURL := sqldbtest.URL(t, "sqlite")
	cp, err := controlplane.New(ctx, controlplane.Config{DatabaseURL: srcURL, Listen: ":0", AdminUsername: "admin", AdminPassword: "first-password"}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(cp.Handler())
	c := client.NewControlPlane(hs.URL, "", nil)
	if err := c.Login(ctx, "admin", "first-password"); err != nil {
		t.Fatal(err)
	}
	org, _ := c.CreateOrganization(ctx, "acme", "")
	ws, err := c.CreateWorkspace(ctx, org.ID, "prod", true)
	if err != nil {
		t.Fatal(err)
	}
	hs.Close()
	cp.Close()

	file := filepath.Join(t.TempDir(), "cp.jsonl.gz")
	if out, err := runCLI(t, "backup", "controlplane", "--database", srcURL, "-o", file); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	dstURL := sqldbtest.URL(t, "postgresql")
	if out, err := runCLI(t, "restore", "controlplane", "--database", dstURL, file); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	// A second restore into the same database is refused.
	if _, err := runCLI(t, "restore", "controlplane", "--database", dstURL, file); err == nil {
		t.Fatal("restored twice into one database")
	}
	// A compressed dump of another store is refused before the database is
	// touched.
	never := filepath.Join(t.TempDir(), "never.db")
	if _, err := runCLI(t, "restore", "workspace", "--database", "sqlite:///"+never, file); err == nil || !strings.Contains(err.Error(), "holds a controlplane store") {
		t.Fatalf("a control plane backup restored as a workspace: %v", err)
	}
	if _, err := os.Stat(never); !os.IsNotExist(err) {
		t.Fatalf("a refused restore made the database file: %v", err)
	}

	cp2, err := controlplane.New(ctx, controlplane.Config{DatabaseURL: dstURL, Listen: ":0", AdminUsername: "admin"}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer cp2.Close()
	hs2 := httptest.NewServer(cp2.Handler())
	defer hs2.Close()
	c2 := client.NewControlPlane(hs2.URL, "", nil)
	if err := c2.Login(ctx, "admin", "first-password"); err != nil {
		t.Fatalf("the admin's password did not move: %v", err)
	}
	got, err := c2.ListWorkspaces(ctx, org.ID, "prod")
	if err != nil || len(got) != 1 || got[0].ID != ws.ID {
		t.Fatalf("workspaces after restore: %+v, %v", got, err)
	}
	// The enrollment key hash moved too: the workspace still logs in.
	if _, err := c2.LoginToken(ctx, map[string][]string{"grant_type": {"client_credentials"}, "client_id": {ws.ID}, "client_secret": {ws.EnrollmentKey}}); err != nil {
		t.Fatalf("workspace login after restore: %v", err)
	}
}

// TestBackupMovesAWorkspaceToMariaDB does the same for a workspace store
// holding a recorded pipeline run.
func TestBackupMovesAWorkspaceToMariaDB(t *testing.T) {
	ctx := context.Background()
	srcURL := sqldbtest.URL(t, "sqlite")
	cfg := workspace.Config{StoreURL: srcURL, DataDir: t.TempDir(), BackupStrategy: workspace.BackupDisabled, Listen: ":0",
		SecretsStoreType: "none", DefaultUserName: "admin", DefaultUserPassword: "admin-password", RBACCacheTTL: workspace.DefaultRBACCacheTTL}
	srv, err := workspace.New(ctx, cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	ws := client.NewWorkspace(hs.URL, "", nil)
	if _, err := ws.LoginPassword(ctx, "admin", "admin-password"); err != nil {
		t.Fatal(err)
	}
	spec, _ := runner.Parse([]byte("name: p\nsteps:\n  - {name: a, command: 'echo hi > \"$ENCLAVE_OUTPUT_O\"', outputs: [o]}\n  - {name: b, command: 'cat \"$ENCLAVE_INPUT_I\"', inputs: {i: a.o}}\n"))
	res, err := (&runner.Runner{WS: ws, ArtifactDir: t.TempDir()}).Run(ctx, spec)
	if err != nil || res.Status != client.StatusCompleted {
		t.Fatalf("run: %+v %v", res, err)
	}
	hs.Close()
	srv.Close()

	file := filepath.Join(t.TempDir(), "ws.jsonl")
	if out, err := runCLI(t, "backup", "workspace", "--database", srcURL, "-o", file); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	dstURL := sqldbtest.URL(t, "mysql")
	if out, err := runCLI(t, "restore", "workspace", "--database", dstURL, file); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	// A dump of another store is refused before the database is touched:
	// no SQLite file is made.
	never := filepath.Join(t.TempDir(), "never.db")
	if _, err := runCLI(t, "restore", "controlplane", "--database", "sqlite:///"+never, file); err == nil || !strings.Contains(err.Error(), "holds a workspace store") {
		t.Fatalf("a workspace backup restored as a control plane: %v", err)
	}
	if _, err := os.Stat(never); !os.IsNotExist(err) {
		t.Fatalf("a refused restore made the database file: %v", err)
	}
	cfg.StoreURL = dstURL
	srv2, err := workspace.New(ctx, cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	hs2 := httptest.NewServer(srv2.Handler())
	defer hs2.Close()
	ws2 := client.NewWorkspace(hs2.URL, "", nil)
	if _, err := ws2.LoginPassword(ctx, "admin", "admin-password"); err != nil {
		t.Fatal(err)
	}
	steps, err := ws2.ListRunSteps(ctx, res.RunID, &client.ListOptions{SortBy: "asc:name"})
	if err != nil || len(steps.Items) != 2 || steps.Items[1].Body.Inputs["i"][0] != steps.Items[0].Body.Outputs["o"][0] {
		t.Fatalf("run after restore: %+v, %v", steps, err)
	}
}
