package httpapi

import (
	"context"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// IdleRelease returns the memory a busy spell left behind to the operating
// system once requests stop. After a spell the Go runtime keeps the heap it
// grew for as long as nothing allocates — an idle server does not collect
// garbage — and gives pages back only slowly. Count every request with
// Middleware and run Watch: when a quiet period follows at least minBusy
// requests, it collects and returns the free memory once (a few
// milliseconds for a heap of tens of MiB). Health probes and a trickle of
// requests never trigger it.
type IdleRelease struct {
	n       atomic.Int64
	release func() // debug.FreeOSMemory; tests replace it
}

// minBusy is how many requests make a busy spell.
const minBusy = 64

// NewIdleRelease returns a watcher that has seen no request yet. Each of
// also runs first when memory is released (to drop caches the runtime
// cannot see).
func NewIdleRelease(also ...func()) *IdleRelease {
	return &IdleRelease{release: func() {
		for _, f := range also {
			f()
		}
		debug.FreeOSMemory()
	}}
}

// Middleware counts the requests passing through.
func (i *IdleRelease) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i.n.Add(1)
		next.ServeHTTP(w, r)
	})
}

// Watch looks every quiet period until ctx ends, and releases memory when a
// period without requests follows a busy spell.
func (i *IdleRelease) Watch(ctx context.Context, quiet time.Duration) {
	t := time.NewTicker(quiet)
	defer t.Stop()
	var seen, spell int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		seen, spell = i.tick(seen, spell)
	}
}

// tick is one look: seen is the count at the last look, spell the requests
// since the last release. It returns both, updated.
func (i *IdleRelease) tick(seen, spell int64) (int64, int64) {
	n := i.n.Load()
	if n != seen {
		return n, spell + n - seen
	}
	if spell >= minBusy {
		i.release()
		return n, 0
	}
	return n, spell
}
