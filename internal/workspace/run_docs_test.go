package workspace

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// waitLive waits until the store's cache of run documents answers, that is
// until its watcher has read the change feed once.
func waitLive(t testing.TB, s *Store) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !s.docs.live(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the change feed was not read within 10 s")
		}
	}
}

func TestRunDocCache(t *testing.T) {
	doc := func(s string) *runDoc { return &runDoc{json: []byte(s), projectID: "p", userID: "u"} }
	k := func(id string) runDocKey { return runDocKey{id, true} }
	c := newRunDocCache(1 << 20)

	c.put(k("a"), doc("A"), c.generation())
	if d, ok := c.get(k("a")); !ok || string(d.json) != "A" {
		t.Fatalf("get a: %v %v", d, ok)
	}
	if _, ok := c.get(runDocKey{"a", false}); ok {
		t.Fatal("the unhydrated document was never stored")
	}

	// A fill that read before a change was forgotten is not stored.
	gen := c.generation()
	c.forget("b")
	c.put(k("b"), doc("old B"), gen)
	if _, ok := c.get(k("b")); ok {
		t.Fatal("a document read before a change was stored after it")
	}
	c.forget() // nothing changed: fills in flight stay valid
	if c.generation() != gen+1 {
		t.Fatal("forgetting nothing voided fills in flight")
	}

	c.forget("A") // ids are compared in lower case
	if _, ok := c.get(k("a")); ok {
		t.Fatal("a forgotten document was answered")
	}

	// The budget holds, and a document in use survives the generations.
	c = newRunDocCache(64 << 10)
	hot := doc(strings.Repeat("h", 500))
	c.put(k("hot"), hot, c.generation())
	for i := range 1000 {
		c.put(k(newID()), doc(strings.Repeat("x", 500)), c.generation())
		if i%50 == 0 {
			if _, ok := c.get(k("hot")); !ok {
				t.Fatalf("the document in use was dropped after %d others", i)
			}
		}
		total := c.curBytes
		for _, d := range c.prev {
			total += d.size()
		}
		if total > c.budget {
			t.Fatalf("%d bytes held, budget %d", total, c.budget)
		}
	}
	c.forget(allRuns)
	if _, ok := c.get(k("hot")); ok || len(c.cur) != 0 || len(c.prev) != 0 {
		t.Fatal("forgetting all runs kept some")
	}
}

// TestRunDocsFollowWrites: on the server that writes, a GET after any
// change of a run answers the change, though GETs are answered from memory.
func TestRunDocsFollowWrites(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv, _, c := testServer(t, testConfig(t, url))
		f := newFixture(t, c, "docs")
		newRun := func(name string, tags ...string) client.Run {
			return must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: name, Snapshot: f.snapshot.ID, Project: "docs", Status: client.StatusRunning, Tags: tags}))
		}
		get := func(id string) client.Run { return must[client.Run](t)(c.GetRun(ctx, id, true)) }
		run := newRun("r1")

		// Answered from memory: a change behind the store's back is not seen.
		get(run.ID)
		if _, err := srv.db.Exec(ctx, "UPDATE pipeline_runs SET name = ? WHERE id = ?", "behind", run.ID); err != nil {
			t.Fatal(err)
		}
		if got := get(run.ID); got.Name != "r1" {
			t.Fatalf("the GET read the database (name %q): the cache answers nothing", got.Name)
		}

		tagNames := func(r client.Run) string {
			var names []string
			for _, tg := range r.Resources.Tags {
				names = append(names, tg.Name)
			}
			return strings.Join(names, ",")
		}
		str := func(s string) *string { return &s }
		steps := []struct {
			name  string
			write func()
			check func(client.Run) bool
		}{
			{"status", func() {
				must[client.Run](t)(c.UpdateRun(ctx, run.ID, client.RunUpdate{Status: str(client.StatusCompleted)}))
			}, func(r client.Run) bool { return r.Body.Status == client.StatusCompleted && r.Name == "behind" }},
			{"tag added", func() {
				must[client.Run](t)(c.UpdateRun(ctx, run.ID, client.RunUpdate{AddTags: []string{"nightly", "gpu"}}))
			}, func(r client.Run) bool { return tagNames(r) == "gpu,nightly" }},
			{"tag removed", func() {
				must[client.Run](t)(c.UpdateRun(ctx, run.ID, client.RunUpdate{RemoveTags: []string{"gpu"}}))
			}, func(r client.Run) bool { return tagNames(r) == "nightly" }},
			{"metadata", func() {
				err := c.AddRunMetadata(ctx, client.RunMetadataRequest{Resources: []client.MetadataResource{{ID: strings.ToUpper(run.ID), Type: "pipeline_run"}}, Values: map[string]any{"accuracy": 0.93}})
				if err != nil {
					t.Fatal(err)
				}
			}, func(r client.Run) bool { return r.Metadata.RunMetadata["accuracy"] == 0.93 }},
			{"tag renamed", func() {
				tags := must[client.Page[client.Tag]](t)(c.ListTags(ctx, filters("name", "nightly")))
				must[client.Tag](t)(c.UpdateTag(ctx, tags.Items[0].ID, client.TagUpdate{Name: str("daily")}))
			}, func(r client.Run) bool { return tagNames(r) == "daily" }},
			{"exclusive tag moved to another run", func() {
				must[client.Tag](t)(c.CreateTag(ctx, client.TagRequest{Name: "champion", Exclusive: true}))
				must[client.Run](t)(c.UpdateRun(ctx, run.ID, client.RunUpdate{AddTags: []string{"champion"}}))
				if tagNames(get(run.ID)) != "champion,daily" {
					t.Fatalf("champion not on the run: %s", tagNames(get(run.ID)))
				}
				newRun("r2", "champion")
			}, func(r client.Run) bool { return tagNames(r) == "daily" }},
			{"tag deleted", func() {
				tags := must[client.Page[client.Tag]](t)(c.ListTags(ctx, filters("name", "daily")))
				if err := c.DeleteTag(ctx, tags.Items[0].ID); err != nil {
					t.Fatal(err)
				}
			}, func(r client.Run) bool { return tagNames(r) == "" }},
		}
		for _, st := range steps {
			get(run.ID) // in memory before the write
			st.write()
			if got := get(run.ID); !st.check(got) {
				t.Fatalf("%s: the GET after it answered %+v %+v", st.name, got.Body, got.Resources)
			}
		}

		stopped := newRun("r3")
		get(stopped.ID)
		if err := c.StopRun(ctx, stopped.ID, false); err != nil {
			t.Fatal(err)
		}
		if got := get(stopped.ID); got.Body.Status != client.StatusStopped {
			t.Fatalf("stopped run answered as %s", got.Body.Status)
		}

		// Ended by its steps: the fixture's snapshot plans two.
		ended := newRun("r4")
		for _, name := range []string{"first", "last"} {
			get(ended.ID)
			must[client.Step](t)(c.CreateStep(ctx, client.StepRequest{Name: name, PipelineRunID: ended.ID, Status: client.StatusCompleted}))
		}
		if got := get(ended.ID); got.Body.Status != client.StatusCompleted || got.Body.EndTime == nil {
			t.Fatalf("run ended by its last step answered as %s, end %v", got.Body.Status, got.Body.EndTime)
		}

		get(run.ID)
		if err := c.DeletePipeline(ctx, f.pipeline.ID); err != nil {
			t.Fatal(err)
		}
		if got := get(run.ID); got.Body.PipelineID != nil {
			t.Fatalf("the run still names its deleted pipeline %s", *got.Body.PipelineID)
		}

		if err := c.DeleteRun(ctx, run.ID); err != nil {
			t.Fatal(err)
		}
		_, err := c.GetRun(ctx, run.ID, true)
		wantStatus(t, err, http.StatusNotFound)
	})
}

// TestRunDocsAcrossReplicas: two servers on one database; a change made
// through one is answered by the other within a few looks at the feed.
func TestRunDocsAcrossReplicas(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		a, _, ca := testServer(t, testConfig(t, url))
		_, _, cb := testServer(t, testConfig(t, url))
		f := newFixture(t, ca, "replicas")
		run := must[client.Run](t)(ca.CreateRun(ctx, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Project: "replicas", Status: client.StatusRunning}))

		must[client.Run](t)(cb.GetRun(ctx, run.ID, true))
		if _, err := a.db.Exec(ctx, "UPDATE pipeline_runs SET name = ? WHERE id = ?", "behind", run.ID); err != nil {
			t.Fatal(err)
		}
		if got := must[client.Run](t)(cb.GetRun(ctx, run.ID, true)); got.Name != "r" {
			t.Fatalf("replica b read the database (name %q): its cache answers nothing", got.Name)
		}

		completed := client.StatusCompleted
		must[client.Run](t)(ca.UpdateRun(ctx, run.ID, client.RunUpdate{Status: &completed}))
		start := time.Now()
		for {
			got := must[client.Run](t)(cb.GetRun(ctx, run.ID, true))
			if got.Body.Status == completed && got.Name == "behind" {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("replica b still answers %s / %q 5 s after the change", got.Body.Status, got.Name)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("replica b answered the change after %s", time.Since(start).Round(time.Millisecond))
	})
}

// TestRunDocsNeedTheFeed: without a recent look at the change feed, the
// cache answers nothing; the feed's old rows are deleted.
func TestRunDocsNeedTheFeed(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv, err := New(ctx, testConfig(t, url), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		s := srv.store
		hs := httptest.NewServer(srv.Handler())
		defer hs.Close()
		c := client.NewWorkspace(hs.URL, "", hs.Client())
		if _, err := c.LoginPassword(ctx, testAdmin, testPassword); err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, c, "feed")
		run, err := s.CreateRun(ctx, "", f.project.ID, client.RunRequest{Name: "r", Snapshot: f.snapshot.ID, Status: client.StatusRunning})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.cachedRun(ctx, run.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.db.Exec(ctx, "UPDATE pipeline_runs SET name = ? WHERE id = ?", "behind", run.ID); err != nil {
			t.Fatal(err)
		}
		d, err := s.cachedRun(ctx, run.ID, true)
		if err != nil || !strings.Contains(string(d.json), `"name":"behind"`) {
			t.Fatalf("with no watcher the cache answered: %s %v", d.json, err)
		}

		// A look at the feed deletes rows older than changeKeep, once a minute.
		old := time.Now().Add(-changeKeep - time.Minute).UnixMicro()
		if _, err := srv.db.Exec(ctx, "INSERT INTO doc_changes (id, resource_id, changed) VALUES (?, ?, ?)", newID(), run.ID, old); err != nil {
			t.Fatal(err)
		}
		w := feedWatch{s: s, seen: map[string]int64{}}
		if err := w.look(ctx); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, srv.db, "doc_changes"); n != 0 {
			t.Fatalf("%d rows of the feed left", n)
		}
		if !s.docs.live() {
			t.Fatal("a successful look did not make the cache answer")
		}
		s.docs.lastLook.Store(time.Now().Add(-cacheLive - time.Second).UnixMicro())
		if s.docs.live() {
			t.Fatal("the cache answers though the feed was last read long ago")
		}
	})
}
