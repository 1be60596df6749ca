package workspace

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// A created step is answered from what was written, not read back: the
// answer must be what a GET reads, and a failed creation must leave nothing.
func TestCreateStepAnswersWhatIsStored(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv, hs, c, run, avs := stepsFixture(t, url)
		p1 := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "p1", PipelineRunID: run.ID, Status: "completed"}))
		p2 := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "p2", PipelineRunID: run.ID, Status: "running"}))
		body := `{"name":"s","pipeline_run_id":"` + run.ID + `","status":"completed","cache_key":"k","code_hash":"h",` +
			`"config":{"b": [1, 2],  "a":{"x":null}},"spec":{"z":1},"logs":{"uri":"/logs/s"},` +
			`"parent_step_ids":["` + p2.ID + `","` + p1.ID + `"],` +
			`"inputs":{"y":["` + avs[1] + `","` + avs[0] + `","` + avs[1] + `"],"x":["` + avs[2] + `"]},` +
			`"outputs":{"out":["` + avs[2] + `","` + avs[0] + `"]}}`
		code, created := raw(t, hs, c.Token(), "POST", "/api/v1/steps", "application/json", body)
		if code != http.StatusOK {
			t.Fatalf("create: %d %s", code, created)
		}
		var st client.Step
		if err := json.Unmarshal([]byte(created), &st); err != nil {
			t.Fatal(err)
		}
		readsAsAnswered(t, hs, c.Token(), st.ID, []byte(created))
		av := must[client.ArtifactVersion](t)(c.GetArtifactVersion(ctx, avs[2], true))
		if av.Metadata.ProducerStepRunID == nil || *av.Metadata.ProducerStepRunID != st.ID {
			t.Fatalf("producer of an output: %+v", av.Metadata)
		}

		// Every failure rolls back the step with its links.
		steps := countRows(t, srv.store.db.DB, "step_runs")
		links := countRows(t, srv.store.db.DB, "step_run_artifacts")
		for _, bad := range []string{
			`"parent_step_ids":["` + newID() + `"]`,
			`"parent_step_ids":["` + p1.ID + `","` + p1.ID + `"]`,
			`"inputs":{"x":["` + avs[0] + `","` + newID() + `"]}`,
			`"outputs":{"x":["` + newID() + `"]}`,
		} {
			code, out := raw(t, hs, c.Token(), "POST", "/api/v1/steps", "application/json",
				`{"name":"bad","pipeline_run_id":"`+run.ID+`","status":"running",`+bad+`}`)
			if code < 400 || !strings.Contains(out, "detail") && !strings.Contains(out, "message") {
				t.Fatalf("%s: %d %s", bad, code, out)
			}
		}
		if n, m := countRows(t, srv.store.db.DB, "step_runs"), countRows(t, srv.store.db.DB, "step_run_artifacts"); n != steps || m != links {
			t.Fatalf("failed creations left rows: steps %d → %d, links %d → %d", steps, n, links, m)
		}
	})
}

// Steps created at once commit in groups: a step that fails must get its
// own error and cost the others nothing.
func TestStepGroupKeepsTheOthers(t *testing.T) {
	sqldbtest.Each(t, testStepGroupKeepsTheOthers)
}

func testStepGroupKeepsTheOthers(t *testing.T, url string) {
	ctx := context.Background()
	srv, _, c := testServer(t, testConfig(t, url))
	if srv.store.stepGroup == nil {
		t.Fatal("no step groups")
	}
	f := newFixture(t, c, "group")
	run := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "group", Status: "running"}))
	const n = 40
	errc := make(chan error, n)
	for i := range n {
		go func() {
			name := "s" + strconv.Itoa(i)
			if i%5 == 0 {
				name = "same" // all but one of these fail
			}
			req := client.StepRequest{Name: name, PipelineRunID: run.ID, Status: "running"}
			if i%7 == 0 {
				req.ParentStepIDs = []string{newID()} // fails
				req.Name = "bad" + strconv.Itoa(i)
			}
			_, err := c.CreateStep(ctx, req)
			errc <- err
		}()
	}
	failed := 0
	for range n {
		if err := <-errc; err != nil {
			failed++
		}
	}
	steps := must[client.Page[client.Step]](t)(c.ListSteps(ctx, &client.ListOptions{Size: 100, Filters: map[string]string{"pipeline_run_id": run.ID}}))
	// 40 steps: 6 with a bad parent (0, 7, …, 35), 8 named "same" (0, 5, …, 35) of
	// which 0 and 35 have a bad parent too: 6 + 5 fail, 29 are written.
	if failed != 11 || steps.Total != n-11 {
		t.Fatalf("%d failed, %d written: want 11 and %d", failed, steps.Total, n-11)
	}
}

// A run's project and owner are kept from its creation, so that the steps
// an orchestrator writes next are authorized without reading the run.
func TestRunOwnerKeptFromCreation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv, _, c := testServer(t, testConfig(t, url))
		f := newFixture(t, c, "kept")
		run := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "kept", Status: "running"}))
		o, ok := srv.store.owners.get(run.ID)
		if want := (runOwnerOf{projectID: run.Body.ProjectID, userID: run.Body.UserID}); !ok || o != want {
			t.Fatalf("owner kept at creation: %+v, %v; want %+v", o, ok, want)
		}
	})
}

// A run's project and owner are kept in memory once read. A run deleted
// behind the server's back (as by another replica) must still refuse new
// steps with a 404, through its foreign key, and leave nothing written.
func TestStepOfARunDeletedElsewhere(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv, _, c := testServer(t, testConfig(t, url))
		f := newFixture(t, c, "gone")
		run := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "gone", Status: "running"}))
		must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "first", PipelineRunID: run.ID, Status: "running"}))
		if _, ok := srv.store.owners.get(run.ID); !ok {
			t.Fatal("the run's owner was not kept")
		}
		db := srv.store.DB()
		for _, q := range []string{"DELETE FROM step_runs WHERE pipeline_run_id = ?", "DELETE FROM pipeline_runs WHERE id = ?"} {
			if _, err := db.Exec(ctx, q, run.ID); err != nil {
				t.Fatal(err)
			}
		}
		_, err := c.CreateStep(ctx, client.StepRequest{Name: "second", PipelineRunID: run.ID, Status: "running"})
		wantStatus(t, err, http.StatusNotFound)
		var n int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM step_runs WHERE name = 'second'").Scan(&n); err != nil || n != 0 {
			t.Fatalf("steps written: %d, %v", n, err)
		}
	})
}

// A group of steps is written with one statement per kind of row (on
// PostgreSQL and MySQL a group of steps alone with one statement and no
// transaction): every step must read back as it was answered, links and
// producers included, and a group that fails must write nothing.
func TestWriteStepsInGroups(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv, hs, c, run, avs := stepsFixture(t, url)
		parent := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "parent", PipelineRunID: run.ID, Status: "completed"}))
		group := func(reqs ...client.StepRequest) []*stepJob {
			var jobs []*stepJob
			for _, r := range reqs {
				r.PipelineRunID = run.ID
				jobs = append(jobs, &stepJob{ctx: ctx, userID: run.Body.UserID, projectID: run.Body.ProjectID, req: r})
			}
			return jobs
		}
		var many []client.StepRequest
		for i := range 40 { // more rows than one statement takes
			many = append(many, client.StepRequest{Name: "m" + strconv.Itoa(i), Status: "completed", CacheKey: "k" + strconv.Itoa(i)})
		}
		groups := [][]*stepJob{
			group(client.StepRequest{Name: "a", Status: "running", Config: json.RawMessage(`{"x":[1]}`)},
				client.StepRequest{Name: "b", Status: "completed", Logs: &client.LogsRequest{URI: "/logs/b"}},
				client.StepRequest{Name: "c", Status: "failed", CodeHash: "h"}),
			group(client.StepRequest{Name: "l1", Status: "completed", ParentStepIDs: []string{parent.ID},
				Inputs: map[string][]string{"x": {avs[0]}}, Outputs: map[string][]string{"o": {avs[1]}}},
				client.StepRequest{Name: "l2", Status: "completed", Outputs: map[string][]string{"o": {avs[2], avs[1]}}},
				client.StepRequest{Name: "l3", Status: "running"}),
			group(many...),
			group(client.StepRequest{Name: "p1", Status: "running", ParentStepIDs: []string{parent.ID}},
				client.StepRequest{Name: "p2", Status: "running", ParentStepIDs: []string{parent.ID}}),
		}
		for _, g := range groups {
			if err := srv.store.writeSteps(ctx, g); err != nil {
				t.Fatalf("group of %d: %v", len(g), err)
			}
			for _, j := range g {
				answered, err := json.Marshal(j.st)
				if err != nil {
					t.Fatal(err)
				}
				readsAsAnswered(t, hs, c.Token(), j.st.ID, answered)
			}
		}
		linked := groups[1]
		for av, want := range map[string]string{avs[1]: linked[0].st.ID, avs[2]: linked[1].st.ID} {
			got := must[client.ArtifactVersion](t)(c.GetArtifactVersion(ctx, av, true))
			if got.Metadata.ProducerStepRunID == nil || *got.Metadata.ProducerStepRunID != want {
				t.Fatalf("producer of %s: %v, want %s (the group's first step to write it)", av, got.Metadata.ProducerStepRunID, want)
			}
		}

		other := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "other", Snapshot: run.Body.SnapshotID, Project: "steps", Status: "running"}))
		elsewhere := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "elsewhere", PipelineRunID: other.ID, Status: "completed"}))
		steps := countRows(t, srv.store.db.DB, "step_runs")
		links := countRows(t, srv.store.db.DB, "step_run_artifacts")
		for _, bad := range [][]*stepJob{
			group(client.StepRequest{Name: "new", Status: "running"}, client.StepRequest{Name: "a", Status: "running"}), // a name taken
			group(client.StepRequest{Name: "new", Status: "running", Outputs: map[string][]string{"o": {avs[0]}}},
				client.StepRequest{Name: "new2", Status: "running", ParentStepIDs: []string{elsewhere.ID}}), // a parent of another run
			group(client.StepRequest{Name: "new", Status: "running", ParentStepIDs: []string{parent.ID}},
				client.StepRequest{Name: "new2", Status: "running", Inputs: map[string][]string{"x": {newID()}}}), // no such input
			group(client.StepRequest{Name: "new", Status: "running"}, client.StepRequest{Name: "new", Status: "running"}), // one name twice
		} {
			if err := srv.store.writeSteps(ctx, bad); err == nil {
				t.Fatalf("a bad group of %s and %s was written", bad[0].req.Name, bad[1].req.Name)
			}
		}
		if n, m := countRows(t, srv.store.db.DB, "step_runs"), countRows(t, srv.store.db.DB, "step_run_artifacts"); n != steps || m != links {
			t.Fatalf("failed groups left rows: steps %d → %d, links %d → %d", steps, n, links, m)
		}
		if got := must[client.ArtifactVersion](t)(c.GetArtifactVersion(ctx, avs[0], true)); got.Metadata.ProducerStepRunID != nil {
			t.Fatalf("a failed group made %s a producer", *got.Metadata.ProducerStepRunID)
		}
	})
}

// stepsFixture is a server on url with a running run and three artifact
// versions of its project, to make steps of.
func stepsFixture(t *testing.T, url string) (*Server, *httptest.Server, *client.Workspace, client.Run, []string) {
	t.Helper()
	ctx := context.Background()
	srv, hs, c := testServer(t, testConfig(t, url))
	f := newFixture(t, c, "steps")
	run := must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "steps", Status: "running"}))
	var avs []string
	for i := range 3 {
		av := must[client.ArtifactVersion](t)(c.CreateArtifactVersion(ctx, client.ArtifactVersionRequest{
			ArtifactName: "a" + strconv.Itoa(i), Project: "steps", Type: "DataArtifact", URI: "/a"}))
		avs = append(avs, av.ID)
	}
	return srv, hs, c, run, avs
}

// readsAsAnswered checks that a GET of step id answers what answered says.
func readsAsAnswered(t *testing.T, hs *httptest.Server, token, id string, answered []byte) {
	t.Helper()
	code, read := raw(t, hs, token, "GET", "/api/v1/steps/"+id, "", "")
	if code != http.StatusOK {
		t.Fatalf("get step %s: %d %s", id, code, read)
	}
	var a, b any
	_ = json.Unmarshal(answered, &a)
	_ = json.Unmarshal([]byte(read), &b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("step %s answered\n%s\nbut reads\n%s", id, answered, read)
	}
}

// Outputs added by updating a step: the links the step lacks are written
// (asking again for one it has adds nothing), the step becomes the producer
// of those without one, and an output of another project writes nothing,
// not even the status that came with it.
func TestUpdateStepOutputs(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv, _, c, run, avs := stepsFixture(t, url)
		st := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "s", PipelineRunID: run.ID, Status: "running"}))
		st2 := must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: "s2", PipelineRunID: run.ID, Status: "running"}))
		must[client.Step](t)(c.UpdateStep(ctx, st.ID, client.StepUpdate{Outputs: map[string][]string{"o": {avs[0]}}}))
		links := countRows(t, srv.store.db.DB, "step_run_artifacts")
		got := must[client.Step](t)(c.UpdateStep(ctx, st.ID, client.StepUpdate{Status: ptr("completed"),
			Outputs: map[string][]string{"o": {avs[1], avs[0]}, "p": {avs[0]}}}))
		want := map[string][]string{"o": slices.Sorted(slices.Values([]string{avs[0], avs[1]})), "p": {avs[0]}}
		if !reflect.DeepEqual(got.Body.Outputs, want) || got.Body.Status != "completed" {
			t.Fatalf("outputs %v, status %s; want %v, completed", got.Body.Outputs, got.Body.Status, want)
		}
		if n := countRows(t, srv.store.db.DB, "step_run_artifacts"); n != links+2 {
			t.Fatalf("links %d → %d: want two more (o/%s and p/%s)", links, n, avs[1], avs[0])
		}
		must[client.Step](t)(c.UpdateStep(ctx, st2.ID, client.StepUpdate{Outputs: map[string][]string{"x": {avs[1], avs[2]}}}))
		for av, want := range map[string]string{avs[0]: st.ID, avs[1]: st.ID, avs[2]: st2.ID} {
			v := must[client.ArtifactVersion](t)(c.GetArtifactVersion(ctx, av, true))
			if v.Metadata.ProducerStepRunID == nil || *v.Metadata.ProducerStepRunID != want {
				t.Fatalf("producer of %s: %v, want %s", av, v.Metadata.ProducerStepRunID, want)
			}
		}

		must[client.Project](t)(c.CreateProject(ctx, client.ProjectRequest{Name: "elsewhere"}))
		foreign := must[client.ArtifactVersion](t)(c.CreateArtifactVersion(ctx, client.ArtifactVersionRequest{
			ArtifactName: "f", Project: "elsewhere", Type: "DataArtifact", URI: "/f"}))
		links = countRows(t, srv.store.db.DB, "step_run_artifacts")
		_, err := c.UpdateStep(ctx, st2.ID, client.StepUpdate{Status: ptr("failed"), Outputs: map[string][]string{"y": {avs[0], foreign.ID}}})
		wantStatus(t, err, http.StatusUnprocessableEntity)
		after := must[client.Step](t)(c.GetStep(ctx, st2.ID, true))
		if after.Body.Status != "running" || countRows(t, srv.store.db.DB, "step_run_artifacts") != links {
			t.Fatalf("a refused update wrote: status %s, links %d → %d", after.Body.Status, links, countRows(t, srv.store.db.DB, "step_run_artifacts"))
		}
	})
}
