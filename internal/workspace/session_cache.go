package workspace

import (
	"sync"
	"time"
)

// sessionUserTTL is how long the server trusts what it read of a session's
// user (active, admin, name) without reading it again. A user deactivated,
// demoted or deleted through this server is forgotten at once; through
// another replica, or in the database directly, it takes effect within this
// time.
const sessionUserTTL = 2 * time.Second

// maxSessionUsers bounds the cache; past it, it starts over.
const maxSessionUsers = 10000

// userCache keeps the principal of recently seen, active users by id, so
// that an authenticated request costs no query for its user.
type userCache struct {
	mu    sync.Mutex
	gen   uint64 // bumped by every change to users
	users map[string]cachedUser
	ttl   time.Duration
}

type cachedUser struct {
	p       principal
	expires time.Time
}

func newUserCache(ttl time.Duration) *userCache {
	return &userCache{users: map[string]cachedUser{}, ttl: ttl}
}

// get returns the cached principal of id, and the generation to pass to put
// after reading it from the store when there is none.
func (c *userCache) get(id string, now time.Time) (principal, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.users[id]; ok && now.Before(e.expires) {
		return e.p, true, c.gen
	}
	return principal{}, false, c.gen
}

// put keeps p unless users changed since gen: a read that raced a
// deactivation must not outlive it.
func (c *userCache) put(p principal, gen uint64, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.users) >= maxSessionUsers {
		clear(c.users)
	}
	c.users[p.UserID] = cachedUser{p: p, expires: now.Add(c.ttl)}
}

// invalidate forgets every user; the store calls it after each change to
// the users table has been written.
func (c *userCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.users)
}

// tokenCache keeps, for sessionUserTTL, what the signature check of a token
// found: a token is the same bytes on every request of a session, and
// checking it (base64, HMAC, JSON) was a sixth of a GET. An entry never
// outlives the token's own expiry.
type tokenCache struct {
	mu     sync.Mutex
	tokens map[string]cachedToken
	ttl    time.Duration
}

type cachedToken struct {
	subject, kind, scope string
	expires              time.Time
}

func newTokenCache(ttl time.Duration) *tokenCache {
	return &tokenCache{tokens: map[string]cachedToken{}, ttl: ttl}
}

func (c *tokenCache) get(tok string, now time.Time) (cachedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.tokens[tok]
	if !ok || !now.Before(e.expires) {
		return cachedToken{}, false
	}
	return e, true
}

// put keeps a verified token until now + ttl, or until valid, if sooner.
func (c *tokenCache) put(tok string, e cachedToken, now, valid time.Time) {
	if c.ttl <= 0 {
		return
	}
	e.expires = now.Add(c.ttl)
	if valid.Before(e.expires) {
		e.expires = valid
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tokens) >= maxSessionUsers {
		clear(c.tokens)
	}
	c.tokens[tok] = e
}
