package workspace

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// TestCountCache checks the promise of a page's total: exact up to the
// bound, and past it kept for a while.
func TestCountCache(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		srv, _, c := testServer(t, testConfig(t, url))
		f := newFixture(t, c, "counts")
		ctx := context.Background()
		now := time.Now()
		cc := srv.Store().counts
		cc.bound, cc.now = 3, func() time.Time { return now }
		addRuns := func(from, n int) {
			for i := from; i < from+n; i++ {
				must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r" + strconv.Itoa(i), Snapshot: f.snapshot.ID, Project: "counts", Status: "running"}))
			}
		}
		total := func() int64 {
			p := must[client.Page[client.Run]](t)(c.ListRuns(ctx, &client.ListOptions{Size: 2, Filters: map[string]string{"pipeline_id": f.pipeline.ID}}))
			if want := int((p.Total + 1) / 2); p.TotalPages != want {
				t.Fatalf("total %d, total_pages %d: want %d", p.Total, p.TotalPages, want)
			}
			return p.Total
		}
		addRuns(0, 2)
		if n := total(); n != 2 {
			t.Fatalf("under the bound: total %d, want 2", n)
		}
		addRuns(2, 1)
		if n := total(); n != 3 {
			t.Fatalf("at the bound: total %d, want 3 at once", n)
		}
		addRuns(3, 2)
		if n := total(); n != 5 {
			t.Fatalf("past the bound, first count: total %d, want 5", n)
		}
		addRuns(5, 1)
		if n := total(); n != 5 {
			t.Fatalf("past the bound, within the TTL: total %d, want the cached 5", n)
		}
		now = now.Add(time.Hour)
		if n := total(); n != 6 {
			t.Fatalf("past the bound, after the TTL: total %d, want 6", n)
		}
	})
}

// TestPagesSeek pages through runs newest first and oldest first: the
// pages after the first start where the one before ended, and must hold
// what OFFSET would have given.
func TestPagesSeek(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		_, _, c := testServer(t, testConfig(t, url))
		f := newFixture(t, c, "seek")
		ctx := context.Background()
		for i := range 7 {
			must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r" + strconv.Itoa(i), Snapshot: f.snapshot.ID, Project: "seek", Status: "running"}))
		}
		for _, sort := range []string{"desc:created", "asc:created", "desc:updated"} {
			all := must[client.Page[client.Run]](t)(c.ListRuns(ctx, &client.ListOptions{Size: 100, SortBy: sort}))
			var paged []string
			for page := 1; page <= 4; page++ {
				p := must[client.Page[client.Run]](t)(c.ListRuns(ctx, &client.ListOptions{Page: page, Size: 2, SortBy: sort}))
				for _, r := range p.Items {
					paged = append(paged, r.ID)
				}
			}
			// A jump straight to a page has no page before it to seek from.
			jump := must[client.Page[client.Run]](t)(c.ListRuns(ctx, &client.ListOptions{Page: 3, Size: 3, SortBy: sort}))
			if len(paged) != len(all.Items) || len(jump.Items) != 1 || jump.Items[0].ID != all.Items[6].ID {
				t.Fatalf("%s: paged %d of %d runs, jump %d", sort, len(paged), len(all.Items), len(jump.Items))
			}
			for i, r := range all.Items {
				if paged[i] != r.ID {
					t.Fatalf("%s: item %d is %s paged, %s at once", sort, i, paged[i], r.ID)
				}
			}
		}
	})
}

// TestPageStartRemembered asks for the same page twice, straight away: the
// second time starts where the first began, so a run created meanwhile at
// the top shifts it no more than it shifts pages reached one by one, and
// rows of the page are those of the first time.
func TestPageStartRemembered(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		_, _, c := testServer(t, testConfig(t, url))
		f := newFixture(t, c, "start")
		ctx := context.Background()
		for i := range 7 {
			must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r" + strconv.Itoa(i), Snapshot: f.snapshot.ID, Project: "start", Status: "running"}))
		}
		opts := &client.ListOptions{Page: 3, Size: 2, SortBy: "desc:created"}
		first := must[client.Page[client.Run]](t)(c.ListRuns(ctx, opts))
		must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "newest", Snapshot: f.snapshot.ID, Project: "start", Status: "running"}))
		again := must[client.Page[client.Run]](t)(c.ListRuns(ctx, opts))
		if len(first.Items) != 2 || len(again.Items) != 2 || first.Items[0].ID != again.Items[0].ID || first.Items[1].ID != again.Items[1].ID {
			t.Fatalf("page 3 moved: %v then %v", names(first.Items), names(again.Items))
		}
		if again.Total != 8 {
			t.Fatalf("total %d, want 8", again.Total)
		}
	})
}

func names(runs []client.Run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.Name)
	}
	return out
}

// Ids are version 7 UUIDs: valid, and sorting in the order they were made
// (from one millisecond to the next).
func TestNewIDsAreTimeOrdered(t *testing.T) {
	a := newID()
	time.Sleep(2 * time.Millisecond)
	b := newID()
	if !validID(a) || !validID(b) || a[14] != '7' || !strings.ContainsRune("89ab", rune(a[19])) {
		t.Fatalf("not version 7 UUIDs: %s %s", a, b)
	}
	if a >= b {
		t.Fatalf("%s made before %s sorts after it", a, b)
	}
}

// A page that starts at its first row reads the runs in its own query; a
// page reached by a jump reads them by id. Both must answer what a GET
// answers, hydrated or not.
func TestRunPagesReadAlike(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, url string) {
		_, _, c := testServer(t, testConfig(t, url))
		f := newFixture(t, c, "alike")
		ctx := context.Background()
		for i := range 4 {
			req := client.RunRequest{Name: "r" + strconv.Itoa(i), Snapshot: f.snapshot.ID, Project: "alike", Status: "running"}
			if i%2 == 0 {
				req.Tags = []string{"t" + strconv.Itoa(i), "even", "a-" + strconv.Itoa(i)}
			}
			run := must[client.Run](t)(c.CreateRun(ctx, req))
			if i%3 == 0 {
				must[any](t)(nil, c.AddRunMetadata(ctx, client.RunMetadataRequest{
					Resources: []client.MetadataResource{{ID: run.ID, Type: "pipeline_run"}},
					Values:    map[string]any{"accuracy": 0.5 + float64(i), "notes": `say "hi"`, "nested": map[string]any{"k": []any{1.0, "x"}}},
				}))
			}
		}
		// Pages of one run asked for from the last to the second: each is
		// reached by OFFSET, none follows a page served before.
		for _, v := range []struct {
			hydrate bool
			sort    string
		}{{false, "desc:created"}, {true, "asc:created"}} {
			hydrate := v.hydrate
			all := must[client.Page[client.Run]](t)(c.ListRuns(ctx, &client.ListOptions{Size: 4, Hydrate: hydrate, SortBy: v.sort}))
			if len(all.Items) != 4 {
				t.Fatalf("%d runs", len(all.Items))
			}
			tagged, described := 0, 0
			for _, r := range all.Items {
				if tags := r.Resources.Tags; len(tags) == 3 && tags[0].Name < tags[1].Name && tags[1].Name < tags[2].Name {
					tagged++
				}
				if hydrate && r.Metadata != nil && r.Metadata.RunMetadata["notes"] == `say "hi"` {
					described++
				}
			}
			if tagged != 2 || (hydrate && described != 2) {
				t.Fatalf("hydrate=%v: %d runs with their 3 tags in order, %d with their metadata; want 2 and 2", hydrate, tagged, described)
			}
			for i := len(all.Items) - 1; i >= 1; i-- {
				r := all.Items[i]
				jump := must[client.Page[client.Run]](t)(c.ListRuns(ctx, &client.ListOptions{Page: i + 1, Size: 1, Hydrate: hydrate, SortBy: v.sort}))
				get := must[client.Run](t)(c.GetRun(ctx, r.ID, hydrate))
				a, b, g := jsonOf(t, r), jsonOf(t, jump.Items[0]), jsonOf(t, get)
				if a != b || a != g {
					t.Fatalf("hydrate=%v, run %d:\npage 1:  %s\njump:    %s\nGET:     %s", hydrate, i, a, b, g)
				}
			}
		}
	})
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Background recounts take turns and rest between them; a total whose
// refresh waits for its turn is served on past twice its life, up to
// maxCountStale.
func TestCountRefreshTakesTurns(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	c := newCountCache()
	c.now = func() time.Time { return now }
	for _, key := range []string{"a", "b"} {
		if n, err := c.load(ctx, key, func(context.Context) (int64, error) { return 20_000, nil }); err != nil || n != 20_000 {
			t.Fatalf("load %s: %d, %v", key, n, err)
		}
	}
	now = now.Add(countTTL/2 + time.Second)
	started := map[string]int{}
	refresh := func(key string) func() { return func() { started[key]++ } }
	if n, ok := c.fresh("a", refresh("a")); !ok || n != 20_000 || started["a"] != 1 {
		t.Fatalf("a past half its life: %d, %v, refreshes %v", n, ok, started)
	}
	// The token is held (a's count runs, or rests after it): b waits.
	if n, ok := c.fresh("b", refresh("b")); !ok || n != 20_000 || started["b"] != 0 {
		t.Fatalf("b while a refreshes: %d, %v, refreshes %v", n, ok, started)
	}
	now = now.Add(2 * countTTL)
	if _, ok := c.fresh("b", refresh("b")); !ok || started["b"] != 0 {
		t.Fatalf("b past twice its life, waiting its turn: served %v, refreshes %v", ok, started)
	}
	<-c.refresh // a's refresh is over and has rested
	c.finishRefresh("a", 20_001, time.Millisecond, nil)
	if n, ok := c.fresh("a", refresh("a")); !ok || n != 20_001 {
		t.Fatalf("a after its refresh: %d, %v", n, ok)
	}
	if _, ok := c.fresh("b", refresh("b")); !ok || started["b"] != 1 {
		t.Fatalf("b once the token is free: served %v, refreshes %v", ok, started)
	}
	<-c.refresh
	now = now.Add(maxCountStale)
	if _, ok := c.fresh("b", refresh("b")); ok {
		t.Fatal("b served past maxCountStale")
	}
}

// A refresh gives its turn back only after resting refreshRest times as
// long as its count took.
func TestCountRefreshRests(t *testing.T) {
	srv, _, c := testServer(t, testConfig(t, sqldbtest.URL(t, "sqlite")))
	f := newFixture(t, c, "rest")
	ctx := context.Background()
	for i := range 4 {
		must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r" + strconv.Itoa(i), Snapshot: f.snapshot.ID, Project: "rest", Status: "running"}))
	}
	cc := srv.Store().counts
	now := time.Now()
	rested := make(chan time.Duration)
	cc.bound, cc.now, cc.rest = 2, func() time.Time { return now }, func(d time.Duration) { rested <- d }
	list := func() {
		must[client.Page[client.Run]](t)(c.ListRuns(ctx, &client.ListOptions{Size: 2, Filters: map[string]string{"pipeline_id": f.pipeline.ID}}))
	}
	list()
	now = now.Add(countTTL/2 + time.Second)
	list() // past half its life: counted again in the background
	select {
	case d := <-rested:
		if d <= 0 {
			t.Fatalf("rested %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the refresh never rested")
	}
	select {
	case cc.refresh <- struct{}{}: // the token came back after the rest
		<-cc.refresh
	case <-time.After(10 * time.Second):
		t.Fatal("the refresh kept its turn after resting")
	}
}

// TestFirstPageIsTheCount: a first page that holds every match gives the
// total without a count; any other page is counted. The count's statement
// is kept prepared on SQLite once it has run, which shows whether it did.
func TestFirstPageIsTheCount(t *testing.T) {
	srv, _, c := testServer(t, testConfig(t, sqldbtest.URL(t, "sqlite")))
	f := newFixture(t, c, "firstpage")
	ctx := context.Background()
	for i := range 3 {
		must[client.Run](t)(c.CreateRun(ctx, client.RunRequest{Name: "r" + strconv.Itoa(i), Snapshot: f.snapshot.ID, Project: "firstpage", Status: "running"}))
	}
	counted := func() bool {
		found := false
		srv.store.db.stmts.Range(func(k, _ any) bool {
			found = found || strings.HasPrefix(k.(string), "SELECT COUNT(*) FROM (SELECT 1 FROM pipeline_runs")
			return true
		})
		return found
	}
	list := func(size, page int) client.Page[client.Run] {
		return must[client.Page[client.Run]](t)(c.ListRuns(ctx, &client.ListOptions{Size: size, Page: page, Filters: map[string]string{"project": "firstpage", "pipeline_id": f.pipeline.ID}}))
	}
	if p := list(50, 1); p.Total != 3 || len(p.Items) != 3 || p.TotalPages != 1 {
		t.Fatalf("one page of all: %+v", p)
	}
	if counted() {
		t.Fatal("a first page that holds every match was counted")
	}
	if p := list(2, 2); p.Total != 3 || len(p.Items) != 1 || p.TotalPages != 2 {
		t.Fatalf("second page: %+v", p)
	}
	if !counted() {
		t.Fatal("a second page was not counted")
	}
	if p := list(2, 1); p.Total != 3 || len(p.Items) != 2 {
		t.Fatalf("a full first page: %+v", p)
	}
	if p := list(2, 5); p.Total != 3 || len(p.Items) != 0 {
		t.Fatalf("past the end: %+v", p)
	}
}
