package workspace

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// A GET of a run is mostly asked again and again for the same runs: the
// SDK and the dashboard poll the runs they watch. The store keeps the
// encoded answers of recently read runs in memory (runDocCache) and forgets
// one when it changes:
//
//   - on this server, as soon as the transaction that changed it has
//     committed (runTx), so a client that writes and then reads through the
//     same server always reads what it wrote;
//   - on every other replica sharing the database, through the change feed:
//     the same transaction adds a row to doc_changes, and every server reads
//     the rows added since its last look every changePoll
//     (watchRunChanges). Another replica may answer a changed run from
//     memory until its next look, at most about changePoll later.
//
// The cache answers only while this server reads the feed: if the last
// successful look is older than cacheLive (the database is unreachable,
// or the watcher is not running), every GET reads the database.
//
// A fill can race a change: a GET reads the old run, the change commits
// and is forgotten, then the GET stores what it read. So a fill is stored
// only if nothing was forgotten since before it read (the cache's
// generation).
//
// The feed's times come from the writers' clocks. A look asks for the rows
// written since changeLookback before the previous look, so a change is
// seen as long as the replicas' clocks differ by less than that, less the
// time the writing transaction takes to commit after its last statement.

const (
	changePoll     = 250 * time.Millisecond
	changeLookback = 10 * time.Second
	cacheLive      = 2 * time.Second
	changeKeep     = 5 * time.Minute // rows of the feed older than this are deleted
	changePrune    = time.Minute     // how often
	runDocBytes    = 4 << 20         // memory the cached documents may take
)

// allRuns, as an id in the feed, says that any run may have changed: a tag
// was renamed, or a pipeline or stack that runs refer to was deleted.
const allRuns = "*"

type runDocKey struct {
	id      string
	hydrate bool
}

// runDoc is a run as GET /runs/{id} answers it (the JSON document and its
// newline), with what authorizing the read needs.
type runDoc struct {
	json              []byte
	projectID, userID string
}

func (d *runDoc) size() int { return len(d.json) + len(d.projectID) + len(d.userID) + 160 }

// runDocCache holds documents in two generations of at most half the
// budget each: when the current one is full it becomes the previous one and
// the previous one is dropped. A document found in the previous generation
// moves to the current one, so documents in use survive.
type runDocCache struct {
	mu        sync.Mutex
	cur, prev map[runDocKey]*runDoc
	curBytes  int
	budget    int
	gen       uint64
	lastLook  atomic.Int64 // Unix µs when the last successful look at the feed began
}

func newRunDocCache(budget int) *runDocCache {
	return &runDocCache{cur: map[runDocKey]*runDoc{}, budget: budget}
}

// live reports whether the cache may answer: the feed was read recently.
func (c *runDocCache) live() bool {
	l := c.lastLook.Load()
	return l != 0 && time.Now().UnixMicro()-l <= cacheLive.Microseconds()
}

func (c *runDocCache) get(k runDocKey) (*runDoc, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.cur[k]; ok {
		return d, true
	}
	d, ok := c.prev[k]
	if ok {
		delete(c.prev, k)
		c.add(k, d)
	}
	return d, ok
}

// generation returns what put must be given for a document read after it.
func (c *runDocCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores d unless a document was forgotten since gen.
func (c *runDocCache) put(k runDocKey, d *runDoc, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen == c.gen && 2*d.size() <= c.budget {
		c.add(k, d)
	}
}

func (c *runDocCache) add(k runDocKey, d *runDoc) {
	if c.curBytes+d.size() > c.budget/2 {
		c.prev, c.cur, c.curBytes = c.cur, map[runDocKey]*runDoc{}, 0
	}
	c.cur[k] = d
	c.curBytes += d.size()
}

// forget drops the documents of runs ids; allRuns drops all.
func (c *runDocCache) forget(ids ...string) {
	if len(ids) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		if id == allRuns {
			c.cur, c.prev, c.curBytes = map[runDocKey]*runDoc{}, nil, 0
			return
		}
		for _, h := range []bool{false, true} {
			k := runDocKey{strings.ToLower(id), h}
			if d, ok := c.cur[k]; ok {
				c.curBytes -= d.size()
				delete(c.cur, k)
			}
			delete(c.prev, k)
		}
	}
}

// releaseCaches empties the caches of run documents and of runs' owners
// (up to 4 MiB and about 2 MiB), when a busy spell is over (the server's
// httpapi.IdleRelease): an idle server holds no more than it needs, and the
// runs polled next are read from the store once each.
func (s *Store) releaseCaches() {
	s.docs.forget(allRuns)
	s.owners.clear()
}

// cachedRun returns run id as GET /runs/{id} answers it, from memory when the
// cache holds it.
func (s *Store) cachedRun(ctx context.Context, id string, hydrate bool) (*runDoc, error) {
	k := runDocKey{strings.ToLower(id), hydrate}
	live := s.docs.live()
	if live {
		if d, ok := s.docs.get(k); ok {
			return d, nil
		}
	}
	gen := s.docs.generation()
	r, err := s.Run(ctx, id, hydrate)
	if err != nil {
		return nil, err
	}
	d := &runDoc{json: append(appendRun(nil, &r), '\n'), projectID: r.Body.ProjectID, userID: r.Body.UserID}
	if live {
		s.docs.put(k, d, gen)
	}
	return d, nil
}

// runTx runs fn in a transaction. The runs fn names with changed (allRuns
// for all) are added to the change feed in the same transaction, and
// forgotten by this server's cache once the transaction has ended.
func (s *Store) runTx(ctx context.Context, fn func(tx *sqldb.Tx, changed func(ids ...string)) error) error {
	var ids []string
	changed := func(more ...string) {
		for _, id := range more {
			ids = append(ids, strings.ToLower(id))
		}
	}
	defer func() { s.docs.forget(ids...) }()
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		ids = ids[:0]
		if err := fn(tx, changed); err != nil {
			return err
		}
		return recordChanges(ctx, tx, ids)
	})
}

// recordChanges adds the runs ids to the change feed, within the
// transaction q that changed them.
func recordChanges(ctx context.Context, q sqldb.Querier, ids []string) error {
	now := time.Now().UnixMicro()
	for _, id := range ids {
		if _, err := q.Exec(ctx, "INSERT INTO doc_changes (id, resource_id, changed) VALUES (?, ?, ?)", newID(), id, now); err != nil {
			return err
		}
	}
	return nil
}

// watchRunChanges reads the change feed every changePoll until ctx ends,
// forgetting the runs that changed, and deletes the feed's old rows.
func (s *Store) watchRunChanges(ctx context.Context, log *slog.Logger) {
	w := feedWatch{s: s, seen: map[string]int64{}}
	t := time.NewTicker(changePoll)
	defer t.Stop()
	var failing bool
	for {
		err := w.look(ctx)
		if err != nil && !failing && ctx.Err() == nil {
			log.Warn("reading the change feed failed; runs are read from the database until it works again", "err", err)
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type feedWatch struct {
	s      *Store
	since  int64            // Unix µs when the last successful look began
	seen   map[string]int64 // the latest change forgotten, by run
	pruned int64
}

// look forgets the runs changed since the last look.
func (w *feedWatch) look(ctx context.Context) error {
	start := time.Now().UnixMicro()
	from := w.since - changeLookback.Microseconds()
	if w.since == 0 {
		from = start - changeLookback.Microseconds()
	}
	rows, err := w.s.db.Query(ctx, "SELECT resource_id, MAX(changed) FROM doc_changes WHERE changed > ? GROUP BY resource_id", from)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		var changed int64
		if err := rows.Scan(&id, &changed); err != nil {
			rows.Close()
			return err
		}
		if changed > w.seen[id] {
			w.seen[id] = changed
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// Rows older than changeKeep may be gone: after so long without a look,
	// anything may have changed.
	if w.since != 0 && start-w.since > (changeKeep-changeLookback).Microseconds() {
		ids = append(ids, allRuns)
	}
	if len(ids) > 0 {
		w.s.docs.forget(ids...)
	}
	for id, changed := range w.seen {
		if changed < from {
			delete(w.seen, id)
		}
	}
	w.since = start
	w.s.docs.lastLook.Store(start)
	if start-w.pruned >= changePrune.Microseconds() {
		w.pruned = start
		if _, err := w.s.db.Exec(ctx, "DELETE FROM doc_changes WHERE changed < ?", start-changeKeep.Microseconds()); err != nil {
			return err
		}
	}
	return nil
}
