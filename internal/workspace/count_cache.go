package workspace

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// A page of the wire carries total and total_pages, so every list counts
// the rows its filter matches. Counting a million runs reads a million index
// entries: tens of milliseconds, for a page of 50. So a count is exact up to
// countBound, found by counting no further than that. Past it, the exact
// count is kept per filter for its life: countTTL, or a thousand times what
// counting took if that is longer (a filter no index serves, such as name
// contains, scans the table), at most maxCountLife. Past half its life it is
// counted again in the background while it is asked for, and it is still
// served until twice its life; only then does a request count again itself.
//
// Background counts run on the database's Aside connection, take turns,
// one at a time, and after each the next waits refreshRest times as long
// as it took: at most a tenth of the time is spent counting in the
// background. A count that scans a table reads every page of it, and on
// SQLite all connections of the process share one cache of pages, so while
// such a count runs the requests find their pages gone. A total whose
// refresh waits its turn is served on, past twice its life, up to
// maxCountStale.
const (
	countBound    = 10_000
	countTTL      = 10 * time.Second
	maxCountLife  = 2 * time.Minute
	maxCountStale = 15 * time.Minute
	refreshRest   = 9
	maxCounts     = 1024
)

type countCache struct {
	bound int64 // countBound; tests lower it
	now   func() time.Time
	rest  func(time.Duration) // waits between background counts; tests replace it

	mu      sync.Mutex
	entries map[string]*countEntry
	refresh chan struct{} // a token for the one background count at a time
}

type countEntry struct {
	n          int64
	at         time.Time
	life       time.Duration
	refreshing bool
	waiting    bool          // a refresh is due and waits for its turn
	ready      chan struct{} // closed when the first count is in
	err        error
}

func newCountCache() *countCache {
	return &countCache{bound: countBound, now: time.Now, rest: time.Sleep, entries: map[string]*countEntry{}, refresh: make(chan struct{}, 1)}
}

// counting is a count to keep, under key, of the rows of table that match
// where. The key names the filter, whatever SQL counts it (a name filter
// is counted with or without the index of substrings: see listIDs).
type counting struct {
	key, table, where string
	args              []any
}

func countOf(table, where string, args []any) counting {
	return counting{key: table + where + "\x00" + fmt.Sprint(args...), table: table, where: where, args: args}
}

// knownCount returns the kept count of c, if there is one to serve.
func (s *Store) knownCount(c counting) (int64, bool) {
	return s.counts.fresh(c.key, func() { s.refreshCount(c) })
}

// count returns how many rows c counts.
func (s *Store) count(ctx context.Context, q sqldb.Querier, c counting) (int64, error) {
	if n, ok := s.knownCount(c); ok {
		return n, nil
	}
	var n int64
	bounded := "SELECT COUNT(*) FROM (SELECT 1 FROM " + c.table + c.where + " LIMIT " + strconv.FormatInt(s.counts.bound+1, 10) + ") c"
	if err := q.QueryRow(ctx, bounded, c.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", c.table, err)
	}
	if n <= s.counts.bound {
		return n, nil
	}
	return s.counts.load(ctx, c.key, func(ctx context.Context) (int64, error) {
		return s.exactCount(ctx, q, c.table, c.where, c.args)
	})
}

func (s *Store) exactCount(ctx context.Context, q sqldb.Querier, table, where string, args []any) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, "SELECT COUNT(*) FROM "+table+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// backgroundCount is exactCount for a refresh, which no request waits for.
// It runs on the database's Aside pool, never on a connection of the
// requests. On PostgreSQL it runs without parallel workers: the count takes
// longer, but as one process rather than three, so that the database's
// processes serving requests keep more of the CPU meanwhile.
func (s *Store) backgroundCount(ctx context.Context, table, where string, args []any) (int64, error) {
	db := s.db.Aside()
	if db.Dialect() != sqldb.Postgres {
		return s.exactCount(ctx, db, table, where, args)
	}
	var n int64
	err := db.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL max_parallel_workers_per_gather = 0"); err != nil {
			return err
		}
		var err error
		n, err = s.exactCount(ctx, tx, table, where, args)
		return err
	})
	return n, err
}

// refreshCount counts again in the background, for a cached entry past half
// its life; the caller holds the refresh token, which this gives back after
// resting refreshRest times as long as the count took.
func (s *Store) refreshCount(c counting) {
	args := append([]any(nil), c.args...)
	go func() {
		defer func() { <-s.counts.refresh }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		start := time.Now()
		n, err := s.backgroundCount(ctx, c.table, c.where, args)
		took := time.Since(start)
		s.counts.finishRefresh(c.key, n, took, err)
		s.counts.rest(refreshRest * took)
	}()
}

// fresh returns a cached count younger than twice its life, or older while
// its refresh waits for its turn (up to maxCountStale); past half its life
// it starts a refresh if none is running.
func (c *countCache) fresh(key string, refresh func()) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.servable(key)
	if !ok {
		return 0, false
	}
	if c.now().Sub(e.at) > e.life/2 && !e.refreshing {
		select {
		case c.refresh <- struct{}{}:
			e.refreshing, e.waiting = true, false
			refresh()
		default: // another count is running or resting: a later request will ask again
			e.waiting = true
		}
	}
	return e.n, true
}

// peek is fresh without a refresh.
func (c *countCache) peek(key string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.servable(key)
	if !ok {
		return 0, false
	}
	return e.n, true
}

// servable returns the entry of key if its count may be served; c.mu is held.
func (c *countCache) servable(key string) (*countEntry, bool) {
	e := c.entries[key]
	if e == nil || e.ready != nil || e.err != nil {
		return nil, false
	}
	age := c.now().Sub(e.at)
	if age > maxCountStale || (age > 2*e.life && !e.waiting && !e.refreshing) {
		return nil, false
	}
	return e, true
}

func (c *countCache) finishRefresh(key string, n int64, took time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil && e.ready == nil {
		e.refreshing, e.waiting = false, false
		if err == nil {
			e.n, e.at, e.life = n, c.now(), lifeOf(took)
		}
	}
}

// load counts once for everyone asking for key at the same time.
func (c *countCache) load(ctx context.Context, key string, count func(context.Context) (int64, error)) (int64, error) {
	c.mu.Lock()
	e := c.entries[key]
	if e != nil && e.ready != nil {
		ready := e.ready
		c.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return e.n, e.err
	}
	if len(c.entries) >= maxCounts {
		c.entries = map[string]*countEntry{}
	}
	e = &countEntry{ready: make(chan struct{})}
	c.entries[key] = e
	c.mu.Unlock()

	start := time.Now()
	n, err := count(ctx)
	c.mu.Lock()
	e.n, e.err, e.at, e.life = n, err, c.now(), lifeOf(time.Since(start))
	close(e.ready)
	e.ready = nil
	if err != nil {
		delete(c.entries, key)
	}
	c.mu.Unlock()
	return n, err
}

// lifeOf is how long a count that took took is kept.
func lifeOf(took time.Duration) time.Duration { return min(maxCountLife, max(countTTL, 1000*took)) }
