package workspace

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

const (
	testAdmin    = "admin"
	testPassword = "admin-password"
)

// testConfig is a standalone server's configuration on the store at url.
func testConfig(t testing.TB, url string) Config {
	return Config{
		StoreURL: url, DataDir: t.TempDir(), BackupStrategy: BackupInMemory, Listen: ":0",
		SecretsStoreType: "sql", EncryptionKey: "test-encryption-key-0123456789",
		DefaultUserName: testAdmin, DefaultUserPassword: testPassword, RBACCacheTTL: DefaultRBACCacheTTL,
	}
}

// testServer starts a server on cfg behind httptest and returns it with a
// client logged in as the admin (in standalone mode).
func testServer(t testing.TB, cfg Config) (*Server, *httptest.Server, *client.Workspace) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(ctx, cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	// The change feed is watched as Run watches it, so that the cache of
	// run documents answers in every test.
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); srv.store.watchRunChanges(wctx, log) }()
	t.Cleanup(func() { stop(); <-done })
	waitLive(t, srv.store)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	c := client.NewWorkspace(hs.URL, "", hs.Client())
	if !cfg.ProMode() {
		if _, err := c.LoginPassword(ctx, testAdmin, testPassword); err != nil {
			t.Fatalf("login: %v", err)
		}
	}
	return srv, hs, c
}

// wantStatus fails unless err is a server error with the given status and
// the wire's error shape.
func wantStatus(t testing.TB, err error, status int) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("want a %d error, got %v", status, err)
	}
	if e.Status != status || e.Class == "" || e.Msg == "" {
		t.Fatalf("want %d with class and message, got %d %q %q", status, e.Status, e.Class, e.Msg)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// raw sends a request with a raw body and returns the status and body.
func raw(t testing.TB, hs *httptest.Server, token, method, path, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// errorShape checks that body is {"detail": [class, message]}.
func errorShape(t testing.TB, body string) {
	t.Helper()
	var e struct {
		Detail []string `json:"detail"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || len(e.Detail) != 2 || e.Detail[0] == "" || e.Detail[1] == "" {
		t.Fatalf("not the error shape: %s", body)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// countRows counts the rows of a table, to prove that nothing was written.
func countRows(t testing.TB, db *sqldb.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fixture is a project with a stack, pipeline and snapshot to run.
type fixture struct {
	project  client.Project
	stack    client.Stack
	pipeline client.Pipeline
	snapshot client.Snapshot
}

func newFixture(t testing.TB, c *client.Workspace, project string) fixture {
	t.Helper()
	ctx := context.Background()
	var f fixture
	f.project = must[client.Project](t)(c.CreateProject(ctx, client.ProjectRequest{Name: project}))
	stacks := must[client.Page[client.Stack]](t)(c.ListStacks(ctx, &client.ListOptions{Filters: map[string]string{"name": "default"}}))
	if len(stacks.Items) != 1 {
		t.Fatalf("want the default stack, got %d", len(stacks.Items))
	}
	f.stack = stacks.Items[0]
	f.pipeline = must[client.Pipeline](t)(c.CreatePipeline(ctx, client.PipelineRequest{Name: "training", Project: project}))
	f.snapshot = must[client.Snapshot](t)(c.CreateSnapshot(ctx, client.SnapshotRequest{
		Project: project, Pipeline: f.pipeline.ID, Stack: f.stack.ID, RunNameTemplate: "training-{date}",
		PipelineConfiguration: json.RawMessage(`{"name":"training"}`),
		StepConfigurations:    map[string]json.RawMessage{"load": json.RawMessage(`{"config":{}}`), "train": json.RawMessage(`{"config":{}}`)},
	}))
	return f
}

func filters(kv ...string) *client.ListOptions {
	o := &client.ListOptions{Filters: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		o.Filters[kv[i]] = kv[i+1]
	}
	return o
}

func query(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}
