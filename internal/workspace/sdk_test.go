package workspace

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// What the original's Python SDK sends, as it sends it: bodies with every
// field of its models, the flags and filter defaults of its reads.

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
