package workspace

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/enclave-mlops/enclave/internal/rbac"
)

// authorizer decides what a principal may do. The creator of a resource owns
// it and is never asked about (see Server.authorize); everything else goes
// through here.
type authorizer interface {
	// allowed reports whether p may do action on res.
	allowed(ctx context.Context, p *principal, action rbac.Action, res rbac.Resource) (bool, error)
	// allowedIDs says which resources of a type (res has no id) p may do
	// action on: all of them, or those listed.
	allowedIDs(ctx context.Context, p *principal, action rbac.Action, res rbac.Resource) (full bool, ids []string, err error)
	// deleted tells the authority that resources are gone.
	deleted(ctx context.Context, res rbac.Resource)
}

// standaloneAuthorizer is a server without a control plane: every user may
// do everything; admin-only operations are checked by the handlers.
type standaloneAuthorizer struct{}

func (standaloneAuthorizer) allowed(context.Context, *principal, rbac.Action, rbac.Resource) (bool, error) {
	return true, nil
}

func (standaloneAuthorizer) allowedIDs(context.Context, *principal, rbac.Action, rbac.Resource) (bool, []string, error) {
	return true, nil, nil
}

func (standaloneAuthorizer) deleted(context.Context, rbac.Resource) {}

// rbacCache keeps the control plane's answers for ttl, so that a hot path
// makes no call. The price: a revoked permission still holds until its entry
// expires, at most ttl after it was fetched.
type rbacCache struct {
	ttl time.Duration
	now func() time.Time

	mu     sync.RWMutex
	checks map[checkKey]checkEntry
	lists  map[checkKey]listEntry
	puts   int
}

type checkKey struct{ user, action, resource string }

type checkEntry struct {
	allowed bool
	expires time.Time
}

type listEntry struct {
	full    bool
	ids     []string
	expires time.Time
}

// maxCacheEntries bounds memory; past it the cache starts over.
const maxCacheEntries = 200_000

func newRBACCache(ttl time.Duration) *rbacCache {
	return &rbacCache{ttl: ttl, now: time.Now, checks: map[checkKey]checkEntry{}, lists: map[checkKey]listEntry{}}
}

func (c *rbacCache) check(k checkKey) (allowed, ok bool) {
	c.mu.RLock()
	e, found := c.checks[k]
	c.mu.RUnlock()
	if !found || !c.now().Before(e.expires) {
		return false, false
	}
	return e.allowed, true
}

func (c *rbacCache) putCheck(k checkKey, allowed bool) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep()
	c.checks[k] = checkEntry{allowed: allowed, expires: c.now().Add(c.ttl)}
}

func (c *rbacCache) list(k checkKey) (listEntry, bool) {
	c.mu.RLock()
	e, found := c.lists[k]
	c.mu.RUnlock()
	if !found || !c.now().Before(e.expires) {
		return listEntry{}, false
	}
	return e, true
}

func (c *rbacCache) putList(k checkKey, full bool, ids []string) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep()
	c.lists[k] = listEntry{full: full, ids: ids, expires: c.now().Add(c.ttl)}
}

// sweep drops expired entries every so often; the caller holds mu.
func (c *rbacCache) sweep() {
	c.puts++
	if len(c.checks)+len(c.lists) >= maxCacheEntries {
		c.checks, c.lists = map[checkKey]checkEntry{}, map[checkKey]listEntry{}
		return
	}
	if c.puts%1024 != 0 {
		return
	}
	now := c.now()
	for k, e := range c.checks {
		if !now.Before(e.expires) {
			delete(c.checks, k)
		}
	}
	for k, e := range c.lists {
		if !now.Before(e.expires) {
			delete(c.lists, k)
		}
	}
}

// proAuthorizer asks the control plane, through the cache.
type proAuthorizer struct {
	cp    *proClient
	cache *rbacCache
	log   *slog.Logger
}

func newProAuthorizer(cp *proClient, ttl time.Duration, log *slog.Logger) *proAuthorizer {
	return &proAuthorizer{cp: cp, cache: newRBACCache(ttl), log: log}
}

// cpUserID is who the control plane knows the principal as. Service
// accounts are local to the workspace; the control plane knows them by
// their local id, if at all.
func cpUserID(p *principal) string {
	if p.ExternalID != "" {
		return p.ExternalID
	}
	return p.UserID
}

func (a *proAuthorizer) allowed(ctx context.Context, p *principal, action rbac.Action, res rbac.Resource) (bool, error) {
	k := checkKey{cpUserID(p), string(action), res.String()}
	if ok, hit := a.cache.check(k); hit {
		return ok, nil
	}
	got, err := a.cp.checkPermissions(ctx, k.user, k.action, []string{k.resource})
	if err != nil {
		return false, err
	}
	ok := got[k.resource]
	a.cache.putCheck(k, ok)
	return ok, nil
}

func (a *proAuthorizer) allowedIDs(ctx context.Context, p *principal, action rbac.Action, res rbac.Resource) (bool, []string, error) {
	k := checkKey{cpUserID(p), string(action), res.String()}
	if e, hit := a.cache.list(k); hit {
		return e.full, e.ids, nil
	}
	full, ids, err := a.cp.allowedIDs(ctx, k.user, k.resource, k.action)
	if err != nil {
		return false, nil, err
	}
	a.cache.putList(k, full, ids)
	return full, ids, nil
}

// deleted tells the control plane to drop its grants on res. The delete
// itself is done; a failure here leaves stale grants, so it is logged.
func (a *proAuthorizer) deleted(ctx context.Context, res rbac.Resource) {
	if err := a.cp.deleteResources(ctx, []string{res.String()}); err != nil {
		a.log.Warn("could not tell the control plane a resource is gone", "resource", res.String(), "err", err)
	}
}
