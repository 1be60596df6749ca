package workspace

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// TestBadInput sends malformed and invalid requests to every endpoint that
// takes input: each gets a 4xx in the wire's error shape, and not one row of
// the store changes.
func TestBadInput(t *testing.T) {
	srv, hs, c := testServer(t, testConfig(t, sqldbtest.URL(t, "sqlite")))
	ctx := context.Background()
	f := newFixture(t, c, "bad")
	run := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "bad", Status: "running"}))
	step := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "s", PipelineRunID: run.ID, Status: "running"}))
	art := must[client.Artifact](t)(c.CreateArtifact(ctx, client.ArtifactRequest{Name: "a", Project: "bad"}))
	av := must[client.ArtifactVersion](t)(c.CreateArtifactVersion(ctx, client.ArtifactVersionRequest{ArtifactID: art.ID, Project: "bad", Type: "DataArtifact", URI: "/tmp/a"}))
	model := must[client.Model](t)(c.CreateModel(ctx, client.ModelRequest{Name: "m", Project: "bad"}))
	mv := must[client.ModelVersion](t)(c.CreateModelVersion(ctx, client.ModelVersionRequest{Model: model.ID, Project: "bad"}))
	sec := must[client.Secret](t)(c.CreateSecret(ctx, client.SecretRequest{Name: "s", Values: map[string]string{"k": "v"}}))
	tag := must[client.Tag](t)(c.CreateTag(ctx, client.TagRequest{Name: "t"}))
	sa := must[client.User](t)(c.CreateServiceAccount(ctx, client.ServiceAccountRequest{Name: "sa"}))
	me := must[client.User](t)(c.CurrentUser(ctx))
	comps := must[client.Page[client.Component]](t)(c.ListComponents(ctx, filters("type", "orchestrator")))
	repo := must[client.CodeRepository](t)(c.CreateCodeRepository(ctx, client.CodeRepositoryRequest{Name: "r", Project: "bad", Source: json.RawMessage(`"repos.Git"`)}))

	before := map[string]int{}
	for _, tb := range storeTables {
		before[tb] = countRows(t, srv.db, tb)
	}
	tok := c.Token()
	check := func(t *testing.T, method, path, ct, body string, want int) {
		t.Helper()
		code, out := raw(t, hs, tok, method, path, ct, body)
		if code != want {
			t.Errorf("%s %s %q: status %d, want %d: %s", method, path, body, code, want, out)
			return
		}
		errorShape(t, out)
	}

	posts := []string{"/users", "/service_accounts", "/service_accounts/" + sa.ID + "/api_keys", "/projects", "/stacks",
		"/components", "/flavors", "/pipelines", "/pipeline_snapshots", "/runs", "/steps", "/artifacts",
		"/artifact_versions", "/models", "/model_versions", "/secrets", "/tags", "/run-metadata",
		"/runs/" + run.ID + "/logs", "/steps/" + step.ID + "/logs", "/code_repositories", "/artifact_versions/batch"}
	puts := []string{"/users/" + me.ID, "/service_accounts/" + sa.ID, "/projects/" + f.project.ID, "/stacks/" + f.stack.ID,
		"/components/" + comps.Items[0].ID, "/pipelines/" + f.pipeline.ID, "/pipeline_snapshots/" + f.snapshot.ID,
		"/runs/" + run.ID, "/steps/" + step.ID, "/artifacts/" + art.ID, "/artifact_versions/" + av.ID,
		"/models/" + model.ID, "/model_versions/" + mv.ID, "/secrets/" + sec.ID, "/tags/" + tag.ID, "/settings",
		"/code_repositories/" + repo.ID}
	malformed := []struct {
		name, ct, body string
		want           int
	}{
		{"wrong content type", "text/plain", `{}`, http.StatusUnsupportedMediaType},
		{"no content type", "", `{}`, http.StatusUnsupportedMediaType},
		{"broken JSON", "application/json", `{"name":`, http.StatusUnprocessableEntity},
		{"not an object", "application/json", `[1,2]`, http.StatusUnprocessableEntity},
		{"two values", "application/json", `{} {}`, http.StatusUnprocessableEntity},
		{"empty", "application/json", ``, http.StatusUnprocessableEntity},
		{"wrong type", "application/json", `{"name":42}`, http.StatusUnprocessableEntity},
	}
	for _, m := range malformed {
		t.Run(m.name, func(t *testing.T) {
			for _, p := range posts {
				body := m.body
				if m.name == "wrong type" && strings.HasSuffix(p, "/logs") {
					body = `{"content":42}`
				}
				check(t, "POST", "/api/v1"+p, m.ct, body, m.want)
			}
			for _, p := range puts {
				body := m.body
				if m.name == "wrong type" {
					body = `{"add_tags":"x","name":42,"status":42,"values":3,"description":7,"stage":1,"outputs":1,"exclusive":"x","server_name":5}`
				}
				check(t, "PUT", "/api/v1"+p, m.ct, body, m.want)
			}
		})
	}
	t.Run("missing required fields", func(t *testing.T) {
		for _, p := range posts {
			if strings.HasSuffix(p, "/logs") {
				continue // an empty append is allowed
			}
			check(t, "POST", "/api/v1"+p, "application/json", `{}`, http.StatusUnprocessableEntity)
		}
	})

	long := strings.Repeat("x", 300)
	invalid := []struct{ method, path, body string }{
		{"POST", "/projects", `{"name":"` + long + `"}`},
		{"POST", "/projects", `{"name":"a\u0000b"}`},
		{"POST", "/users", `{"name":"u","password":"short"}`},
		{"POST", "/stacks", `{"name":"s","components":{"orchestrator":["not-an-id"],"artifact_store":["x"]}}`},
		{"POST", "/stacks", `{"name":"s","components":{"nonsense":["` + comps.Items[0].ID + `"]}}`},
		{"POST", "/stacks", `{"name":"s","components":{"orchestrator":["` + comps.Items[0].ID + `"]}}`},
		{"POST", "/components", `{"name":"c","type":"toaster","flavor":"local"}`},
		{"POST", "/flavors", `{"name":"f","type":"orchestrator","source":""}`},
		{"POST", "/pipelines", `{"name":"p","project":"bad","tags":[""]}`},
		{"POST", "/pipeline_snapshots", `{"project":"bad","pipeline":"` + f.pipeline.ID + `","stack":"` + f.stack.ID + `","run_name_template":"x","pipeline_configuration":[1],"step_configurations":{}}`},
		{"POST", "/pipeline_snapshots", `{"project":"bad","pipeline":"` + f.pipeline.ID + `","stack":"` + f.stack.ID + `","run_name_template":"x","pipeline_configuration":{},"step_configurations":{"a":3}}`},
		{"POST", "/runs", `{"name":"r2","snapshot":"nope","project":"bad","status":"running"}`},
		{"POST", "/runs", `{"name":"r2","snapshot":"` + f.snapshot.ID + `","project":"bad","status":"completed"}`},
		{"POST", "/runs", `{"name":"r2","snapshot":"` + f.snapshot.ID + `","project":"bad","status":"running","start_time":"yesterday"}`},
		{"POST", "/runs", `{"name":"r2","snapshot":"` + f.snapshot.ID + `","project":"bad","status":"running","start_time":"2024-01-02T00:00:00","end_time":"2024-01-01T00:00:00"}`},
		{"POST", "/steps", `{"name":"s2","pipeline_run_id":"` + run.ID + `","status":"sleeping"}`},
		{"POST", "/steps", `{"name":"s2","pipeline_run_id":"` + run.ID + `","status":"running","inputs":{"x":["nope"]}}`},
		{"POST", "/steps", `{"name":"s2","pipeline_run_id":"` + run.ID + `","status":"running","inputs":{"x":[]}}`},
		{"POST", "/steps", `{"name":"s2","pipeline_run_id":"` + run.ID + `","status":"running","config":"text"}`},
		{"POST", "/artifact_versions", `{"artifact_id":"` + art.ID + `","project":"bad","type":"Pickle","uri":"/x"}`},
		{"POST", "/artifact_versions", `{"artifact_id":"` + art.ID + `","artifact_name":"a","project":"bad","type":"DataArtifact","uri":"/x"}`},
		{"POST", "/artifact_versions", `{"artifact_id":"` + art.ID + `","project":"bad","type":"DataArtifact","uri":"/x","materializer":42}`},
		{"POST", "/model_versions", `{"model":"","project":"bad"}`},
		{"POST", "/secrets", `{"name":"s2","values":{"bad\u0001key":"v"}}`},
		{"POST", "/tags", `{"name":"t2","color":"pink"}`},
		{"POST", "/run-metadata", `{"resources":[{"id":"` + run.ID + `","type":"toaster"}],"values":{"a":1}}`},
		{"POST", "/run-metadata", `{"resources":[{"id":"` + run.ID + `","type":"pipeline_run"}],"values":{}}`},
		{"POST", "/run-metadata", `{"resources":[{"id":"` + run.ID + `","type":"pipeline_run"}],"values":{"a":1},"types":{"b":"int"}}`},
		{"PUT", "/runs/" + run.ID, `{"status":"done"}`},
		{"PUT", "/steps/" + step.ID, `{"outputs":{"o":["nope"]}}`},
		{"PUT", "/model_versions/" + mv.ID, `{"stage":"gold"}`},
		{"PUT", "/tags/" + tag.ID, `{"color":""}`},
		{"PUT", "/projects/" + f.project.ID, `{"name":""}`},
		{"PUT", "/users/" + me.ID, `{"password":""}`},
	}
	t.Run("invalid values", func(t *testing.T) {
		for _, tc := range invalid {
			check(t, tc.method, "/api/v1"+tc.path, "application/json", tc.body, http.StatusUnprocessableEntity)
		}
	})
	t.Run("references that do not exist", func(t *testing.T) {
		ghost := newID()
		for _, tc := range []struct{ method, path, body string }{
			{"POST", "/pipelines", `{"name":"p","project":"no-such-project"}`},
			{"POST", "/runs", `{"name":"r3","snapshot":"` + ghost + `","project":"bad","status":"running"}`},
			{"POST", "/steps", `{"name":"s3","pipeline_run_id":"` + ghost + `","status":"running"}`},
			{"POST", "/steps", `{"name":"s3","pipeline_run_id":"` + run.ID + `","status":"running","parent_step_ids":["` + ghost + `"]}`},
			{"POST", "/model_versions", `{"model":"no-such-model","project":"bad"}`},
			{"POST", "/components", `{"name":"c","type":"orchestrator","flavor":"no-such-flavor"}`},
			{"PUT", "/runs/" + ghost, `{}`},
			{"PUT", "/steps/" + step.ID, `{"outputs":{"o":["` + ghost + `"]}}`},
			{"POST", "/run-metadata", `{"resources":[{"id":"` + ghost + `","type":"step_run"}],"values":{"a":1}}`},
		} {
			check(t, tc.method, "/api/v1"+tc.path, "application/json", tc.body, http.StatusNotFound)
		}
	})
	t.Run("bad lists and paths", func(t *testing.T) {
		lists := []string{"/users", "/service_accounts", "/projects", "/stacks", "/components", "/flavors", "/pipelines",
			"/pipeline_snapshots", "/runs", "/steps", "/artifacts", "/artifact_versions", "/models", "/model_versions",
			"/secrets", "/tags", "/runs/" + run.ID + "/steps", "/code_repositories"}
		for _, l := range lists {
			for _, q := range []string{"no_such_filter=1", "sort_by=desc:no_such_field", "size=0", "size=10001",
				"page=0", "page=x", "logical_operator=xor", "hydrate=perhaps", "created=gt:not-a-date", "id=not-an-id",
				"created=contains:2024", "id=1&id=2"} {
				check(t, "GET", "/api/v1"+l+"?"+q, "", "", http.StatusUnprocessableEntity)
			}
		}
		for _, p := range []string{"/runs/not-an-id", "/steps/x", "/artifact_versions/1", "/pipelines/..%2f..", "/stacks/x"} {
			check(t, "GET", "/api/v1"+p, "", "", http.StatusUnprocessableEntity)
		}
		for _, p := range []string{"/runs/", "/steps/", "/models/", "/secrets/", "/pipeline_snapshots/"} {
			check(t, "GET", "/api/v1"+p+newID(), "", "", http.StatusNotFound)
		}
		check(t, "GET", "/api/v1/runs?status=sleeping", "", "", http.StatusUnprocessableEntity)
		check(t, "GET", "/api/v1/runs?project=no-such-project", "", "", http.StatusNotFound)
		check(t, "GET", "/api/v1/no-such-route", "", "", http.StatusNotFound)
		// A route's path with a method it does not take.
		check(t, "DELETE", "/api/v1/runs", "", "", http.StatusMethodNotAllowed)
		check(t, "PATCH", "/api/v1/runs/"+run.ID, "application/json", `{}`, http.StatusMethodNotAllowed)
		check(t, "GET", "/api/v1/runs/"+run.ID+"?unknown=1", "", "", http.StatusUnprocessableEntity)
		check(t, "GET", "/api/v1/steps?consumes_artifact_version_id=not-an-id", "", "", http.StatusUnprocessableEntity)
		check(t, "GET", "/api/v1/artifact_versions?consumed_by_step_id=not-an-id", "", "", http.StatusUnprocessableEntity)
		check(t, "DELETE", "/api/v1/runs/"+run.ID+"?force=1", "", "", http.StatusUnprocessableEntity)
	})
	t.Run("too large", func(t *testing.T) {
		big := fmt.Sprintf(`{"name":"p","description":"%s"}`, strings.Repeat("x", maxBody))
		check(t, "POST", "/api/v1/projects", "application/json", big, http.StatusRequestEntityTooLarge)
	})

	for _, tb := range storeTables {
		if tb == "api_keys" || tb == "users" {
			continue // a login stamps last_login, nothing else changes
		}
		if got := countRows(t, srv.db, tb); got != before[tb] {
			t.Errorf("table %s: %d rows before the bad requests, %d after", tb, before[tb], got)
		}
	}
	if got := countRows(t, srv.db, "users"); got != before["users"] {
		t.Errorf("users: %d before, %d after", before["users"], got)
	}
}
