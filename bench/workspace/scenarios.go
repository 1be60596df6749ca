package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enclave-mlops/enclave/client"
)

// scenarioSet builds the requests of each scenario from what the fill wrote.
// Filter values vary from request to request, so that no answer is simply
// served again from a cache. GET of a run comes twice: spread over the
// sample of runs (each asked for twice, 10 000 requests apart, so that
// nearly every read is a read of the store), and over the watched runs
// only, as clients that poll the runs they wait for ask.
type scenarioSet struct {
	getRun, getWatched, createStep request
	getOne                         func(base string) request
	lists                          []listScenario
}

// watched is how many runs the watched GET asks for, again and again.
const watched = 100

// listScenario's request i uses filter value i % values: the first values
// requests each meet a value for the first time (cold), the rest again.
type listScenario struct {
	name   string
	values int
	req    request
}

func scenarios(base string, fx *fixture, runs int) scenarioSet {
	// Each request derives its choice from its number, so that concurrent
	// workers need no shared random source.
	runURL := func(i int) string { return base + "/api/v1/runs/" + fx.runIDs[(i*7919)%len(fx.runIDs)] }
	list := func(params func(i int) url.Values) request {
		return func(i int) (string, string, []byte) {
			q := params(i)
			q.Set("size", "50")
			return "GET", base + "/api/v1/runs?" + q.Encode(), nil
		}
	}
	wireTime := func(us int64) string { return time.UnixMicro(us).UTC().Format("2006-01-02 15:04:05") }
	span := fx.lastCreated - fx.firstCreated
	// Step names are unique per run, also across runs of this program on a
	// reused store.
	nonce := strconv.FormatInt(time.Now().Unix(), 36)
	statuses := []string{"completed", "failed", "cached", "running"}
	s := scenarioSet{
		getRun: func(i int) (string, string, []byte) { return "GET", runURL(i), nil },
		getWatched: func(i int) (string, string, []byte) {
			return "GET", base + "/api/v1/runs/" + fx.runIDs[(i*7919)%min(watched, len(fx.runIDs))], nil
		},
		getOne: func(b string) request {
			return func(int) (string, string, []byte) { return "GET", b + "/api/v1/runs/" + fx.runIDs[0], nil }
		},
		createStep: func(i int) (string, string, []byte) {
			run := fx.emptyRunIDs[(i/50)%len(fx.emptyRunIDs)]
			body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("bench-%s-%d", nonce, i), "pipeline_run_id": run,
				"status": "completed", "cache_key": fmt.Sprintf("key-%d", i), "code_hash": "abc123",
				"config": map[string]any{"enable_cache": true}, "spec": map[string]any{}})
			return "POST", base + "/api/v1/steps", body
		},
	}
	const points = 20 // distinct times of the created filters
	at := func(i int) string { return wireTime(fx.firstCreated + int64(i%points+1)*span/(points+1)) }
	s.lists = []listScenario{
		{"status, newest first", len(statuses), list(func(i int) url.Values {
			return url.Values{"status": {statuses[i%len(statuses)]}, "sort_by": {"desc:created"}}
		})},
		{"pipeline_id, newest first", len(fx.pipelines), list(func(i int) url.Values {
			return url.Values{"pipeline_id": {fx.pipelines[i%len(fx.pipelines)].id}, "sort_by": {"desc:created"}}
		})},
		{"created before a time, newest first", points, list(func(i int) url.Values {
			return url.Values{"created": {"lt:" + at(i)}, "sort_by": {"desc:created"}}
		})},
		{"created after a time, oldest first", points, list(func(i int) url.Values {
			return url.Values{"created": {"gte:" + at(i)}, "sort_by": {"asc:created"}}
		})},
		{"name contains, newest first", len(fx.pipelines), list(func(i int) url.Values {
			return url.Values{"name": {"contains:" + fx.pipelines[i%len(fx.pipelines)].name}, "sort_by": {"desc:created"}}
		})},
		// The number in a run's name (see fill): one run holds each, so the
		// filter finds one run, or walks every run without an index of
		// substrings (see internal/workspace/name_search.go).
		{"name contains, one run holds it", points, list(func(i int) url.Values {
			return url.Values{"name": {"contains:" + fmt.Sprintf("%07d", (i%points)*runs/points+runs/(2*points))}, "sort_by": {"desc:created"}}
		})},
		{"no filter, pages 1 to 200 in turn", 200, list(func(i int) url.Values {
			return url.Values{"page": {strconv.Itoa(i%200 + 1)}, "sort_by": {"desc:created"}}
		})},
		{"no filter, straight to page 2000", 1, list(func(i int) url.Values {
			return url.Values{"page": {"2000"}, "sort_by": {"desc:created"}}
		})},
	}
	return s
}

// stepsPerLiveRun is how many steps the snapshot of the runs in progress
// plans, and how many each gets.
const stepsPerLiveRun = 10

// liveRuns makes a snapshot of stepsPerLiveRun steps and n runs of it in
// progress, through the API, as an orchestrator starts its runs: the runs
// the "runs in progress" step scenario writes to, newest of the store, each
// counted and, at its last step, ended by the server.
func liveRuns(ctx context.Context, ws *client.Workspace, fx *fixture, n, conc int) []string {
	steps := map[string]json.RawMessage{}
	for k := range stepsPerLiveRun {
		steps[fmt.Sprintf("s%d", k)] = json.RawMessage(`{"config":{}}`)
	}
	p := fx.pipelines[0]
	snap, err := ws.CreateSnapshot(ctx, client.SnapshotRequest{Project: "default", Pipeline: p.id, Stack: fx.stackID,
		RunNameTemplate: p.name + "-live-{date}", PipelineConfiguration: json.RawMessage(`{"name":"` + p.name + `"}`),
		StepConfigurations: steps})
	check(err)
	ids := make([]string, n)
	nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				run, err := ws.CreateRun(ctx, client.RunRequest{Name: fmt.Sprintf("live-%s-%d", nonce, i), Snapshot: snap.ID,
					Project: "default", Status: "running"})
				check(err)
				ids[i] = run.ID
			}
		})
	}
	wg.Wait()
	return ids
}

// stepsOfLiveRuns writes steps s0 to s9 of each of runs in turn, completed,
// with cache keys as the SDK makes them (hashes, spread over the index).
func stepsOfLiveRuns(base string, runs []string) request {
	return func(i int) (string, string, []byte) {
		sum := sha256.Sum256([]byte(base + strconv.Itoa(i)))
		body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("s%d", i%stepsPerLiveRun),
			"pipeline_run_id": runs[(i/stepsPerLiveRun)%len(runs)], "status": "completed",
			"cache_key": hex.EncodeToString(sum[:]), "code_hash": "abc123",
			"config": map[string]any{"enable_cache": true}, "spec": map[string]any{}})
		return "POST", base + "/api/v1/steps", body
	}
}
