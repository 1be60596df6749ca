// Command workspace measures the workspace server at scale: it fills a
// store with a million runs (a tenth of them with ten steps), starts the real
// `enclave workspace` binary on one core and drives it from another, next to
// a bare net/http handler serving a byte-identical run document on the same
// core, the ceiling. It prints a Markdown table: GET of a run against that
// ceiling (spread over many runs, and over a few watched ones), filtered and
// sorted lists of 50 runs, step creation through the API, and the server's
// resident memory at rest and under load.
//
//	bench/workspace/run.sh             (both databases, 1 M runs)
//	go run ./bench/workspace -enclave ./enclave -db sqlite -runs 100000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

const adminPassword = "bench-admin-password"

var cleanups []func()

type options struct {
	enclave, db, url     string
	reuse                string
	profile              string
	warm                 string // more of the store's files to read before the load
	runs, steps, pipes   int
	serverCPU            string
	conc, listConc, reqs int
	limit                time.Duration
	pool                 string // the store pool the server reported
}

func main() {
	var o options
	flag.StringVar(&o.enclave, "enclave", "enclave", "enclave binary")
	flag.StringVar(&o.db, "db", "sqlite", "sqlite, postgresql or mysql")
	flag.StringVar(&o.reuse, "reuse", "", "folder to keep the SQLite store and what the fill wrote in, and to reuse them from on the next run")
	flag.StringVar(&o.profile, "profile", "", "folder to write the server's CPU profile of each scenario, and its heap at rest after the load, to (served on its debug listener)")
	flag.StringVar(&o.warm, "warm-files", "", "a folder of the store's files to read once before the load, besides a SQLite store (run.sh gives PostgreSQL's)")
	flag.StringVar(&o.url, "url", "", "store URL (postgresql, mysql: an empty database; sqlite: a fresh file by default)")
	flag.IntVar(&o.runs, "runs", 1_000_000, "runs to fill the store with")
	flag.IntVar(&o.steps, "steps", 10, "steps of every tenth run")
	flag.IntVar(&o.pipes, "pipelines", 20, "pipelines the runs belong to")
	flag.StringVar(&o.serverCPU, "server-cpu", "0", "core the servers are pinned to (run this program on another)")
	flag.IntVar(&o.conc, "c", 8, "concurrent requests for GET and step creation")
	flag.IntVar(&o.listConc, "list-c", 4, "concurrent requests for lists")
	flag.IntVar(&o.reqs, "n", 20000, "requests per scenario at most")
	flag.DurationVar(&o.limit, "t", 15*time.Second, "time per scenario at most")
	bare := flag.String("bare", "", "internal: serve this file as the bare handler")
	bareListen := flag.String("bare-listen", "", "internal: the bare handler's address")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if *bare != "" {
		serveBare(*bare, *bareListen)
		return
	}
	defer runCleanups()
	run(o)
}

func run(o options) {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "bench-workspace-")
	check(err)
	cleanups = append(cleanups, func() { os.RemoveAll(work) })
	dir := work
	if o.reuse != "" {
		dir = o.reuse
		check(os.MkdirAll(dir, 0o700))
	}
	storeURL := o.url
	if o.db == "sqlite" && storeURL == "" {
		storeURL = "sqlite:///" + filepath.Join(dir, "ws.db")
	}
	if storeURL == "" {
		fatalf("-url is required for %s", o.db)
	}
	fx, key := loadFixture(dir)
	if fx == nil {
		fx, key = setupAndFill(ctx, o, storeURL, work)
		saveFixture(dir, fx, key)
	}

	// A server that has been running finds its store in the page cache; a
	// store reused from an earlier run may have been pushed out of it since
	// (this machine's cache is trimmed from outside: of a 2.9 GB store, 0.4
	// GB was left an hour later), and reading it back from the disk during
	// the load measures the disk.
	warm := []string{o.warm}
	if o.db == "sqlite" && o.url == "" {
		warm = append(warm, filepath.Join(dir, "ws.db"), filepath.Join(dir, "ws.db-wal"))
	}
	warmFiles(warm...)

	var extra []string
	debugAddr := ""
	if o.profile != "" {
		check(os.MkdirAll(o.profile, 0o755))
		debugAddr = freeAddr()
		extra = append(extra, "ENCLAVE_DEBUG_LISTEN="+debugAddr)
	}
	srv := startServer(o.enclave, storeURL, work, o.serverCPU, extra...)
	time.Sleep(2 * time.Second)
	restStart := rssKiB(srv.pid())
	o.pool = srv.poolSize()
	ws := client.NewWorkspace(srv.url(), "", nil)
	tok, err := ws.LoginAPIKey(ctx, key)
	check(err)

	hc := newHTTPClient(max(o.conc, o.listConc))
	doc := fetch(hc, tok.AccessToken, srv.url()+"/api/v1/runs/"+fx.runIDs[0])
	bare := startBare(o.serverCPU, doc, work)

	var rows []result
	sc := scenarios(srv.url(), fx, o.runs)
	drive := func(name string, hc *http.Client, token string, conc, max int, limit time.Duration, req request) result {
		if debugAddr == "" || name == "warm" || name == "cold" {
			return drive(name, hc, token, conc, max, limit, req)
		}
		stop := profileServer(debugAddr, filepath.Join(o.profile, slug(name)+".prof"), limit)
		defer stop()
		return drive(name, hc, token, conc, max, limit, req)
	}
	// Warm both up, so that neither pays for first connections and caches.
	drive("warm", hc, "", o.conc, 2000, 2*time.Second, sc.getOne(bare.url()))
	warmGets := drive("warm", hc, tok.AccessToken, o.conc, 2000, 2*time.Second, sc.getRun)
	rows = append(rows, drive("bare net/http: GET run", hc, "", o.conc, o.reqs, o.limit, sc.getOne(bare.url())))
	peak := watchRSS(srv.pid())
	rows = append(rows, drive("enclave: GET run (API key session)", hc, tok.AccessToken, o.conc, o.reqs, o.limit, sc.getRun))
	rows = append(rows, drive(fmt.Sprintf("enclave: GET run, %d watched runs", watched), hc, tok.AccessToken, o.conc, o.reqs, o.limit, sc.getWatched))
	for _, l := range sc.lists {
		// One request per filter value first, one at a time: what a
		// filter costs the first time it is asked for.
		// It always asks every value, however long that takes, so that
		// the timed requests after it see each value for the second time.
		cold := drive("cold", hc, tok.AccessToken, 1, l.values, max(o.limit, 10*time.Minute), l.req)
		r := drive("enclave: list 50 runs, "+l.name, hc, tok.AccessToken, o.listConc, o.reqs, o.limit, l.req)
		r.coldMax, r.errs = cold.max, r.errs+cold.errs
		rows = append(rows, r)
	}
	rows = append(rows, drive("enclave: create step, runs that ended", hc, tok.AccessToken, o.conc, o.reqs, o.limit, sc.createStep))
	ws.SetToken(tok.AccessToken)
	live := liveRuns(ctx, ws, fx, (o.reqs+stepsPerLiveRun-1)/stepsPerLiveRun, o.conc)
	rows = append(rows, drive("enclave: create step, runs in progress", hc, tok.AccessToken, o.conc, o.reqs, o.limit, stepsOfLiveRuns(srv.url(), live)))
	loadPeak := peak.end()
	time.Sleep(3 * time.Second)
	restEnd, restParts := rssKiB(srv.pid()), rssParts(srv.pid())
	if o.profile != "" {
		saveHeap(debugAddr, "", filepath.Join(o.profile, "heap-at-rest-after-load.prof"))
		saveHeap(debugAddr, "?debug=1", filepath.Join(o.profile, "heap-at-rest-after-load.txt"))
	}
	bare.stop()
	srv.stop()
	forgetWrites(ctx, storeURL, fx, live)
	// What the spread GET asked for: its runs, and how many of its
	// requests were the first for their run since the server started (the
	// warm-up asked for the first runs of the same sequence).
	asked, runs := map[string]bool{}, map[string]bool{}
	for i := range warmGets.n {
		_, u, _ := sc.getRun(i)
		asked[u] = true
	}
	spread := spreadGets{requests: rows[1].n}
	for i := range rows[1].n {
		_, u, _ := sc.getRun(i)
		runs[u] = true
		if !asked[u] {
			asked[u] = true
			spread.first++
		}
	}
	spread.runs = len(runs)
	report(o, rows, restStart, restEnd, loadPeak, restParts, spread)
}

// forgetWrites deletes what the step scenarios wrote, the steps of the runs
// that had none and the runs made in progress with their steps, so that a
// store kept with -reuse is the same for the next run: each run would
// otherwise leave 40 000 more steps, and 2 000 more runs newer than any run
// of the fill. On PostgreSQL it then vacuums the two tables, as the fill
// does: autovacuum waits for a fifth of a table to be dead, so the deleted
// rows would otherwise stay in the runs' indexes (at the newest end of the
// index of creation, where lists sorted newest first begin) and the names
// of those runs in the trigram index's pending list, from run to run.
func forgetWrites(ctx context.Context, storeURL string, fx *fixture, live []string) {
	db, err := sqldb.Open(ctx, storeURL, sqldb.Options{MaxOpen: 1})
	check(err)
	defer db.Close()
	for _, del := range []struct {
		stmt string
		ids  []string
	}{
		{"DELETE FROM step_runs WHERE pipeline_run_id IN ", fx.emptyRunIDs},
		{"DELETE FROM pipeline_runs WHERE id IN ", live},
	} {
		for part := range slices.Chunk(del.ids, 500) {
			args := make([]any, len(part))
			for i, id := range part {
				args[i] = id
			}
			_, err := db.Exec(ctx, del.stmt+"("+joinCopies("?", len(part))+")", args...)
			check(err)
		}
	}
	if db.Dialect() == sqldb.Postgres {
		_, err = db.Exec(ctx, "VACUUM ANALYZE pipeline_runs, step_runs")
		check(err)
	}
}

// setupAndFill has the server make the schema, the first admin and the
// default stack, creates pipelines and snapshots through the API, and fills
// the store through SQL with the server stopped.
func setupAndFill(ctx context.Context, o options, storeURL, work string) (*fixture, string) {
	srv := startServer(o.enclave, storeURL, work, o.serverCPU)
	fx, key := setup(ctx, srv, o.pipes)
	srv.stop()
	db, err := sqldb.Open(ctx, storeURL, sqldb.Options{MaxOpen: 1})
	check(err)
	fill(ctx, db, fx, o.runs, o.steps)
	if db.Dialect() == sqldb.Postgres {
		// What autovacuum does after a bulk insert: statistics and the
		// visibility map that index-only scans need.
		_, err = db.Exec(ctx, "VACUUM ANALYZE")
		check(err)
		// And the checkpoint that would otherwise write the fill's pages
		// out while the load runs.
		_, err = db.Exec(ctx, "CHECKPOINT")
		check(err)
	}
	if db.Dialect() == sqldb.MySQL {
		// InnoDB samples statistics again after a tenth of a table
		// changed, in the background; the load should not race it.
		_, err = db.Exec(ctx, "ANALYZE TABLE pipeline_runs, step_runs")
		check(err)
	}
	check(db.Close())
	return fx, key
}

// setup creates what the fill refers to: pipelines with a snapshot each, and
// a service account whose API key the load logs in with.
func setup(ctx context.Context, srv *server, pipes int) (*fixture, string) {
	ws := client.NewWorkspace(srv.url(), "", nil)
	tok, err := ws.LoginPassword(ctx, "admin", adminPassword)
	check(err)
	ws.SetToken(tok.AccessToken)
	sa, err := ws.CreateServiceAccount(ctx, client.ServiceAccountRequest{Name: "bench"})
	check(err)
	key, err := ws.CreateAPIKey(ctx, sa.ID, client.APIKeyRequest{Name: "bench"})
	check(err)
	proj, err := ws.GetProject(ctx, "default")
	check(err)
	stacks, err := ws.ListStacks(ctx, &client.ListOptions{Filters: map[string]string{"name": "default"}})
	check(err)
	fx := &fixture{projectID: proj.ID, userID: sa.ID, stackID: stacks.Items[0].ID}
	for i := 0; i < pipes; i++ {
		name := fmt.Sprintf("pipeline-%02d", i)
		p, err := ws.CreatePipeline(ctx, client.PipelineRequest{Name: name, Project: "default"})
		check(err)
		snap, err := ws.CreateSnapshot(ctx, client.SnapshotRequest{Project: "default", Pipeline: p.ID, Stack: fx.stackID,
			RunNameTemplate: name + "-{date}", PipelineConfiguration: json.RawMessage(`{"name":"` + name + `"}`),
			StepConfigurations: map[string]json.RawMessage{"load": json.RawMessage(`{"config":{}}`)}})
		check(err)
		fx.pipelines = append(fx.pipelines, pipelineRef{id: p.ID, name: name, snapshotID: snap.ID})
	}
	return fx, key.Body.Key
}

func fetch(hc *http.Client, token, url string) []byte {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	check(err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check(err)
	if resp.StatusCode != http.StatusOK {
		fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// spreadGets is what the spread GET asked for: requests for runs, of
// which first were the first for their run since the server started.
type spreadGets struct{ requests, runs, first int }

// report prints the results.
func report(o options, rows []result, restStart, restEnd, loadPeak int64, restParts string, spread spreadGets) {
	fmt.Printf("\n%s, %d runs (%d with %d steps), server on core %s with %s store connections; GET and step creation %d at once, lists %d at once.\n\n",
		o.db, o.runs, o.runs/10, o.steps, o.serverCPU, o.pool, o.conc, o.listConc)
	fmt.Println("| scenario | requests | errors | req/s | p50 ms | p99 ms | first time, max ms | steal % |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		cold := ""
		if r.coldMax > 0 {
			cold = ms(r.coldMax)
		}
		fmt.Printf("| %s | %d | %d | %.0f | %s | %s | %s | %.1f |\n", r.name, r.n, r.errs, r.rps(), ms(r.p50), ms(r.p99), cold, r.steal)
		if r.firstErr != "" {
			log.Printf("%s: first error: %s", r.name, r.firstErr)
		}
	}
	fmt.Printf("\nGET run, enclave ÷ bare net/http: %.2f spread over the sample, %.2f over %d watched runs\n",
		rows[1].rps()/rows[0].rps(), rows[2].rps()/rows[0].rps(), watched)
	if spread.requests > 0 {
		fmt.Printf("(the spread GET asked for %d runs in %d requests; %d of them, %.0f %%, were the first for their run since the server started)\n",
			spread.runs, spread.requests, spread.first, 100*float64(spread.first)/float64(spread.requests))
	}
	fmt.Printf("resident memory: %s at rest after start, %s peak under load, %s at rest after load (%s)\n",
		mib(restStart), mib(loadPeak), mib(restEnd), restParts)
}

func runCleanups() {
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	runCleanups()
	log.Fatalf(format, args...)
}
