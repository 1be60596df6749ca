package workspace

import (
	"context"
	"runtime"
	"sync"

	"github.com/enclave-mlops/enclave/client"
)

// stepGroup commits steps created at the same time together. On SQLite
// every commit writes the WAL frames of step_runs and its indexes, and only
// one write transaction runs at a time, so steps created one by one wait for
// each other's commits; on PostgreSQL and MySQL every commit waits for its
// log to reach the disk. The creations that arrive while a group is being
// written form the next group, written by one statement per kind of row
// (writeSteps). One group is written at a time, on every database: groups
// written side by side were smaller, and on PostgreSQL each step then cost
// the database a third more than the wait for the disk they hid. If any
// step of a group fails — or the commit does — the group is rolled back and
// each of its steps is created again alone: a failing step gets its own
// error and costs the others nothing but time. (Savepoints per step were
// tried: SQLite writes each savepoint's journal to a temporary file, which
// cost more than the commits saved.)
type stepGroup struct {
	s *Store

	mu      sync.Mutex
	pending []*stepJob
	running bool
}

type stepJob struct {
	ctx               context.Context
	userID, projectID string
	req               client.StepRequest
	st                client.Step
	err               error
	done              chan struct{}
}

// maxStepGroup bounds a group, so that one commit does not keep the first
// step of a long queue waiting.
const maxStepGroup = 64

func (g *stepGroup) create(ctx context.Context, userID, projectID string, r client.StepRequest) (client.Step, error) {
	j := &stepJob{ctx: ctx, userID: userID, projectID: projectID, req: r, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, j)
	if !g.running {
		g.running = true
		go g.loop()
	}
	g.mu.Unlock()
	<-j.done // not on ctx: the step may be in a transaction that commits
	return j.st, j.err
}

// loop writes groups until none are waiting.
func (g *stepGroup) loop() {
	for {
		// Let the requests that are on their way here arrive first: with
		// one core (GOMAXPROCS=1) the loop would otherwise run as soon as
		// the first step is queued, and every group would be of one.
		runtime.Gosched()
		g.mu.Lock()
		n := min(len(g.pending), maxStepGroup)
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		group := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()
		g.write(group)
		for _, j := range group {
			close(j.done)
		}
	}
}

func (g *stepGroup) write(group []*stepJob) {
	s := g.s
	if len(group) == 1 {
		j := group[0]
		j.st, j.err = s.createStep(j.ctx, j.userID, j.projectID, j.req)
		return
	}
	// Statements run without the requests' cancellation: on SQLite an
	// interrupted write rolls back the whole transaction, the others' steps
	// with it. A request gone before the group is written is left out.
	ctx := context.Background()
	var live []*stepJob
	for _, j := range group {
		if j.err = j.ctx.Err(); j.err == nil {
			live = append(live, j)
		}
	}
	if err := s.writeSteps(ctx, live); err != nil {
		for _, j := range live {
			j.st, j.err = s.createStep(j.ctx, j.userID, j.projectID, j.req)
		}
	}
}
