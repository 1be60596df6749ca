package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// fixture is what the fill wrote and the load needs: the ids to ask for and
// the bounds of the filters.
type fixture struct {
	projectID, userID, stackID string
	pipelines                  []pipelineRef
	runIDs                     []string // a sample of run ids, for GET and step creation
	emptyRunIDs                []string // runs without steps, for step creation
	firstCreated, lastCreated  int64    // microseconds
}

type pipelineRef struct{ id, name, snapshotID string }

// statusMix is how often each status occurs among the filled runs, in
// percent: mostly finished, a few in flight.
var statusMix = []struct {
	status string
	pct    int
}{{"completed", 70}, {"failed", 15}, {"cached", 5}, {"running", 5}, {"stopped", 3}, {"initializing", 2}}

const (
	runCols  = "id, name, project_id, user_id, snapshot_id, pipeline_id, stack_id, status, orchestrator_run_id, run_index, start_time, end_time, created, updated"
	stepCols = "id, name, pipeline_run_id, project_id, user_id, status, start_time, end_time, cache_key, code_hash, config, spec, logs_uri, created, updated"
	// batch rows per INSERT: under SQLite's and PostgreSQL's limits on
	// bound parameters.
	batch = 200
)

// fill writes runs runs (every tenth with stepsPer steps) straight into the
// store's tables, the same rows the API writes, in multi-row INSERTs. Run i
// is created 30 s after run i-1, so a million runs span about a year.
func fill(ctx context.Context, db *sqldb.DB, fx *fixture, runs, stepsPer int) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	const spacing = int64(30 * time.Second / time.Microsecond)
	base := time.Now().Add(-time.Minute).UnixMicro() - int64(runs)*spacing
	fx.firstCreated, fx.lastCreated = base, base+int64(runs-1)*spacing
	counts := make([]int64, len(fx.pipelines))
	if db.Dialect() == sqldb.SQLite {
		// The fill's own connection: a big page cache keeps a million
		// random ids' index pages in memory while it writes.
		_, err := db.Exec(ctx, "PRAGMA cache_size = -262144")
		check(err)
	}
	w := &writer{db: db}
	runIns := newInserter(w, "pipeline_runs", runCols, 14)
	stepIns := newInserter(w, "step_runs", stepCols, 15)
	stepIns.first = runIns // a step's run must exist before it
	start := time.Now()
	for i := 0; i < runs; i++ {
		p := rng.IntN(len(fx.pipelines))
		counts[p]++
		pl := fx.pipelines[p]
		created := base + int64(i)*spacing
		id := uuid(created)
		status := pickStatus(rng)
		startT, endT := any(created+1_000_000), any(created+int64(60+rng.IntN(600))*1_000_000)
		switch status {
		case "initializing":
			startT, endT = nil, nil
		case "running":
			endT = nil
		}
		runIns.add(ctx, id, fmt.Sprintf("%s-%07d", pl.name, i), fx.projectID, fx.userID, pl.snapshotID, pl.id, fx.stackID,
			status, nil, counts[p], startT, endT, created, created)
		if i%10 == 0 {
			for k := 0; k < stepsPer; k++ {
				stepIns.add(ctx, uuid(created+int64(k)*1_000_000), fmt.Sprintf("step-%02d", k), id, fx.projectID, fx.userID, "completed",
					created+int64(k)*1_000_000, created+int64(k+1)*1_000_000, hex.EncodeToString(rnd(8)), "abc123",
					"{}", "{}", "", created, created)
			}
		} else if len(fx.emptyRunIDs) < 5000 && rng.IntN(100) == 0 {
			fx.emptyRunIDs = append(fx.emptyRunIDs, id)
		}
		if rng.IntN(100) == 0 && len(fx.runIDs) < 10000 {
			fx.runIDs = append(fx.runIDs, id)
		}
		if (i+1)%100000 == 0 {
			log.Printf("filled %d runs (%.0f runs/s)", i+1, float64(i+1)/time.Since(start).Seconds())
		}
	}
	stepIns.flush(ctx)
	runIns.flush(ctx)
	w.commit()
	for p, n := range counts {
		_, err := db.Exec(ctx, "UPDATE pipelines SET run_count = run_count + ? WHERE id = ?", n, fx.pipelines[p].id)
		check(err)
	}
	log.Printf("filled %d runs and %d steps in %s", runs, runs/10*stepsPer, time.Since(start).Round(time.Second))
}

func pickStatus(rng *mrand.Rand) string {
	n := rng.IntN(100)
	for _, s := range statusMix {
		if n < s.pct {
			return s.status
		}
		n -= s.pct
	}
	return "completed"
}

// writer runs statements in transactions of 50 statements, a few thousand
// rows each, so that neither database holds a million rows in one.
type writer struct {
	db    *sqldb.DB
	tx    *sql.Tx
	stmts int
}

func (w *writer) exec(ctx context.Context, q string, args []any) {
	if w.tx == nil {
		var err error
		w.tx, err = w.db.SQL().BeginTx(ctx, nil)
		check(err)
	}
	_, err := w.tx.ExecContext(ctx, sqldb.Rebind(w.db.Dialect(), q), args...)
	check(err)
	if w.stmts++; w.stmts == 50 {
		w.commit()
	}
}

func (w *writer) commit() {
	if w.tx != nil {
		check(w.tx.Commit())
		w.tx, w.stmts = nil, 0
	}
}

// inserter gathers rows of one table into multi-row INSERTs of batch rows.
type inserter struct {
	w    *writer
	head string
	row  string
	cols int
	args []any
	n    int
	// first is flushed before this one, for foreign keys.
	first *inserter
}

func newInserter(w *writer, table, cols string, n int) *inserter {
	return &inserter{w: w, head: "INSERT INTO " + table + " (" + cols + ") VALUES ",
		row: "(" + joinCopies("?", n) + ")", cols: n}
}

// joinCopies is n copies of s separated by commas: a list of placeholders
// or of rows.
func joinCopies(s string, n int) string {
	return strings.TrimSuffix(strings.Repeat(s+", ", n), ", ")
}

func (in *inserter) add(ctx context.Context, vals ...any) {
	if len(vals) != in.cols {
		fatalf("insert: %d values for %d columns", len(vals), in.cols)
	}
	in.args = append(in.args, vals...)
	if in.n++; in.n == batch {
		in.flush(ctx)
	}
}

// flush writes the rows gathered so far in one statement.
func (in *inserter) flush(ctx context.Context) {
	if in.n == 0 {
		return
	}
	if in.first != nil {
		in.first.flush(ctx)
	}
	in.w.exec(ctx, in.head+joinCopies(in.row, in.n), in.args)
	in.args, in.n = in.args[:0], 0
}

// uuid returns the version 7 UUID the server would have given a row created
// at created (Unix microseconds): the server's ids are time-ordered.
func uuid(created int64) string {
	b := rnd(16)
	ms := uint64(created / 1000)
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func rnd(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// savedFixture is a fixture as -reuse keeps it between runs.
type savedFixture struct {
	ProjectID, UserID, StackID string
	Pipelines                  [][3]string
	RunIDs, EmptyRunIDs        []string
	FirstCreated, LastCreated  int64
	Key                        string
}

func saveFixture(dir string, fx *fixture, key string) {
	sf := savedFixture{ProjectID: fx.projectID, UserID: fx.userID, StackID: fx.stackID, RunIDs: fx.runIDs,
		EmptyRunIDs: fx.emptyRunIDs, FirstCreated: fx.firstCreated, LastCreated: fx.lastCreated, Key: key}
	for _, p := range fx.pipelines {
		sf.Pipelines = append(sf.Pipelines, [3]string{p.id, p.name, p.snapshotID})
	}
	b, err := json.Marshal(sf)
	check(err)
	check(os.WriteFile(filepath.Join(dir, "fixture.json"), b, 0o600))
}

// loadFixture reads what an earlier run with -reuse filled, or nil.
func loadFixture(dir string) (*fixture, string) {
	b, err := os.ReadFile(filepath.Join(dir, "fixture.json"))
	if err != nil {
		return nil, ""
	}
	var sf savedFixture
	check(json.Unmarshal(b, &sf))
	fx := &fixture{projectID: sf.ProjectID, userID: sf.UserID, stackID: sf.StackID, runIDs: sf.RunIDs,
		emptyRunIDs: sf.EmptyRunIDs, firstCreated: sf.FirstCreated, lastCreated: sf.LastCreated}
	for _, p := range sf.Pipelines {
		fx.pipelines = append(fx.pipelines, pipelineRef{id: p[0], name: p[1], snapshotID: p[2]})
	}
	log.Printf("reusing the store filled earlier in %s", dir)
	return fx, sf.Key
}
