package auth

import (
	"sync"
	"time"
)

// Throttle slows and then locks out repeated failed logins per key (a user
// name, a client id). It lives in memory: each replica counts on its own, which
// still bounds an attacker to replicas × limit guesses per lock period.
type Throttle struct {
	mu      sync.Mutex
	entries map[string]*throttleEntry
	now     func() time.Time

	// SlowAfter failures each further attempt waits Delay; LockAfter failures
	// lock the key for LockFor.
	SlowAfter int
	Delay     time.Duration
	LockAfter int
	LockFor   time.Duration
}

type throttleEntry struct {
	failures    int
	lockedUntil time.Time
	last        time.Time
}

// NewThrottle returns a throttle with the defaults: slow after 3 failures,
// lock for 15 minutes after 10.
func NewThrottle() *Throttle {
	return &Throttle{entries: map[string]*throttleEntry{}, now: time.Now,
		SlowAfter: 3, Delay: 500 * time.Millisecond, LockAfter: 10, LockFor: 15 * time.Minute}
}

// Check reports whether key may try now, and how long it should be made to
// wait first.
func (t *Throttle) Check(key string) (allowed bool, wait time.Duration, retryAfter time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil {
		return true, 0, 0
	}
	now := t.now()
	if now.Before(e.lockedUntil) {
		return false, 0, e.lockedUntil.Sub(now)
	}
	if e.failures >= t.SlowAfter {
		return true, t.Delay, 0
	}
	return true, 0, 0
}

// Fail records a failed attempt.
func (t *Throttle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.gc(now)
	e := t.entries[key]
	if e == nil {
		e = &throttleEntry{}
		t.entries[key] = e
	}
	if !e.lockedUntil.IsZero() && !now.Before(e.lockedUntil) {
		// The lock has run out: start counting again.
		e.failures, e.lockedUntil = 0, time.Time{}
	}
	e.failures++
	e.last = now
	if e.failures >= t.LockAfter {
		e.lockedUntil = now.Add(t.LockFor)
	}
}

// Succeed forgets the key's failures.
func (t *Throttle) Succeed(key string) {
	t.mu.Lock()
	delete(t.entries, key)
	t.mu.Unlock()
}

// gc drops entries idle for longer than the lock period, bounding memory.
func (t *Throttle) gc(now time.Time) {
	if len(t.entries) < 10000 {
		return
	}
	for k, e := range t.entries {
		if now.Sub(e.last) > t.LockFor && now.After(e.lockedUntil) {
			delete(t.entries, k)
		}
	}
}
