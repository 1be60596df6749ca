package workspace

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
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

// TestUnknownFieldsIgnored: the SDK sends every field of its request
// models, nulls included, and the original server's models allow fields
// they do not know; so does this server, while a field it knows must still
// be of its type.
func TestUnknownFieldsIgnored(t *testing.T) {
	srv, hs, c := testServer(t, testConfig(t, sqldbtest.URL(t, "sqlite")))
	ctx := context.Background()
	f := newFixture(t, c, "sdk")
	me := must[client.User](t)(c.CurrentUser(ctx))
	post := func(method, path, body string) string {
		t.Helper()
		code, out := raw(t, hs, c.Token(), method, "/api/v1"+path, "application/json", body)
		if code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, code, out)
		}
		return out
	}
	out := post("POST", "/runs", `{"name": "sdk-run", "snapshot": "`+f.snapshot.ID+`", "project": "`+f.project.ID+`",
		"user": "`+me.ID+`", "status": "initializing", "status_reason": null, "orchestrator_run_id": null,
		"start_time": null, "end_time": null, "orchestrator_environment": {"python": "3.12"}, "trigger_info": null,
		"tags": null, "logs": null, "pipeline": "`+f.pipeline.ID+`", "client_environment": {}}`)
	var pair []json.RawMessage
	var run client.Run
	if err := json.Unmarshal([]byte(out), &pair); err != nil || len(pair) != 2 || string(pair[1]) != "true" {
		t.Fatalf("POST /runs answers [run, created]: %s (%v)", out, err)
	}
	if err := json.Unmarshal(pair[0], &run); err != nil || run.Name != "sdk-run" || run.Body.Status != client.StatusInitializing {
		t.Fatalf("run: %s (%v)", pair[0], err)
	}
	post("PUT", "/pipelines/"+f.pipeline.ID, `{"description": "from a newer SDK", "some_later_field": [1, {"a": null}]}`)
	if p := must[client.Pipeline](t)(c.GetPipeline(ctx, f.pipeline.ID, true)); p.Metadata.Description != "from a newer SDK" {
		t.Fatalf("description %q", p.Metadata.Description)
	}
	// A known field of the wrong type is still refused, and writes nothing.
	before := countRows(t, srv.db, "pipeline_runs")
	code, body := raw(t, hs, c.Token(), "POST", "/api/v1/runs", "application/json",
		`{"name": 7, "snapshot": "`+f.snapshot.ID+`", "status": "running", "unknown": true}`)
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("wrong type: %d %s", code, body)
	}
	errorShape(t, body)
	if after := countRows(t, srv.db, "pipeline_runs"); after != before {
		t.Fatalf("a refused run left %d rows", after-before)
	}
}

// TestReadFlagsTaken: the read flags newer SDKs send are taken, as
// booleans, by single reads and lists; anything else unknown is still a 422.
func TestReadFlagsTaken(t *testing.T) {
	_, hs, c := testServer(t, testConfig(t, sqldbtest.URL(t, "sqlite")))
	ctx := context.Background()
	f := newFixture(t, c, "flags")
	run := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "flags", Status: "running"}))
	for path, want := range map[string]int{
		"/api/v1/runs/" + run.ID + "?hydrate=true&include_python_packages=false&include_full_metadata=true&refresh_status=False": http.StatusOK,
		"/api/v1/runs?include_full_metadata=false&hydrate=False&sort_by=desc:created":                                            http.StatusOK,
		"/api/v1/pipelines/" + f.pipeline.ID + "?include_resources=true":                                                         http.StatusOK,
		"/api/v1/runs/" + run.ID + "?include_full_metadata=perhaps":                                                              http.StatusUnprocessableEntity,
		"/api/v1/runs?include_everything=true":                                                                                   http.StatusUnprocessableEntity,
	} {
		if code, out := raw(t, hs, c.Token(), "GET", path, "", ""); code != want {
			t.Errorf("GET %s: %d, want %d: %s", path, code, want, out)
		}
	}
}

// TestSDKCacheLookup: the query the SDK makes for a cached step, as it
// makes it.
func TestSDKCacheLookup(t *testing.T) {
	_, hs, c := testServer(t, testConfig(t, sqldbtest.URL(t, "sqlite")))
	ctx := context.Background()
	f := newFixture(t, c, "cache")
	run := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "cache", Status: "running"}))
	done := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "train", PipelineRunID: run.ID, Status: "completed", CacheKey: "k-1"}))
	must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "eval", PipelineRunID: run.ID, Status: "failed", CacheKey: "k-1"}))
	base := "/api/v1/steps?project=" + f.project.ID + "&cache_key=k-1&status=completed&sort_by=desc:created&size=1&logical_operator=and&page=1&hydrate=False"
	for q, want := range map[string]int{"&cache_expired=False": 1, "&cache_expired=True": 0, "": 1} {
		code, out := raw(t, hs, c.Token(), "GET", base+q, "", "")
		var page client.Page[client.Step]
		if code != http.StatusOK || json.Unmarshal([]byte(out), &page) != nil || len(page.Items) != want || (want == 1 && page.Items[0].ID != done.ID) {
			t.Errorf("%s: %d %s", q, code, out)
		}
	}
	if code, out := raw(t, hs, c.Token(), "GET", base+"&cache_expired=soon", "", ""); code != http.StatusUnprocessableEntity {
		t.Errorf("cache_expired=soon: %d %s", code, out)
	}
}

// TestOnlyUnusedArtifactVersions: the SDK's artifact version filter always
// sends only_unused (false unless asked); true lists the versions no step
// read or wrote.
func TestOnlyUnusedArtifactVersions(t *testing.T) {
	_, hs, c := testServer(t, testConfig(t, sqldbtest.URL(t, "sqlite")))
	ctx := context.Background()
	f := newFixture(t, c, "unused")
	run := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "unused", Status: "running"}))
	used := must[client.ArtifactVersion](t)(c.CreateArtifactVersion(ctx, client.ArtifactVersionRequest{ArtifactName: "used", Project: "unused", Type: "DataArtifact", URI: "/a/used"}))
	spare := must[client.ArtifactVersion](t)(c.CreateArtifactVersion(ctx, client.ArtifactVersionRequest{ArtifactName: "spare", Project: "unused", Type: "DataArtifact", URI: "/a/spare"}))
	must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "s", PipelineRunID: run.ID, Status: "completed", Outputs: map[string][]string{"out": {used.ID}}}))
	for q, want := range map[string][]string{"True": {spare.ID}, "False": {spare.ID, used.ID}} { // newest first
		code, out := raw(t, hs, c.Token(), "GET", "/api/v1/artifact_versions?project=unused&sort_by=desc:created&only_unused="+q, "", "")
		var page client.Page[client.ArtifactVersion]
		if code != http.StatusOK || json.Unmarshal([]byte(out), &page) != nil {
			t.Fatalf("only_unused=%s: %d %s", q, code, out)
		}
		var got []string
		for _, v := range page.Items {
			got = append(got, v.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("only_unused=%s: %v, want %v", q, got, want)
		}
	}
	if code, _ := raw(t, hs, c.Token(), "GET", "/api/v1/artifact_versions?only_unused=sometimes", "", ""); code != http.StatusUnprocessableEntity {
		t.Errorf("only_unused=sometimes: %d", code)
	}
}
