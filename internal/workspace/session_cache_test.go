package workspace

import (
	"testing"
	"time"
)

func TestUserCache(t *testing.T) {
	c := newUserCache(2 * time.Second)
	now := time.Now()
	_, ok, gen := c.get("u", now)
	if ok {
		t.Fatal("hit in an empty cache")
	}
	c.put(principal{UserID: "u", Name: "bob"}, gen, now)
	if p, ok, _ := c.get("u", now.Add(time.Second)); !ok || p.Name != "bob" {
		t.Fatalf("miss within the TTL: %+v", p)
	}
	if _, ok, _ := c.get("u", now.Add(2*time.Second)); ok {
		t.Fatal("hit after the TTL")
	}
	// A read that began before a change to users is not kept.
	_, _, gen = c.get("u", now)
	c.invalidate()
	c.put(principal{UserID: "u"}, gen, now)
	if _, ok, _ := c.get("u", now); ok {
		t.Fatal("a read older than an invalidation was kept")
	}
	c.put(principal{UserID: "u"}, gen+1, now)
	c.invalidate()
	if _, ok, _ := c.get("u", now); ok {
		t.Fatal("invalidate kept a user")
	}
}

func TestTokenCacheNeverOutlivesTheToken(t *testing.T) {
	c := newTokenCache(2 * time.Second)
	now := time.Now()
	c.put("a", cachedToken{subject: "u"}, now, now.Add(time.Second))
	c.put("b", cachedToken{subject: "v"}, now, now.Add(time.Hour))
	if e, ok := c.get("a", now); !ok || e.subject != "u" {
		t.Fatalf("a: %+v %v", e, ok)
	}
	if _, ok := c.get("a", now.Add(time.Second)); ok {
		t.Fatal("a token kept past its expiry")
	}
	if _, ok := c.get("b", now.Add(1500*time.Millisecond)); !ok {
		t.Fatal("b dropped within the TTL")
	}
	if _, ok := c.get("b", now.Add(2*time.Second)); ok {
		t.Fatal("b kept past the TTL")
	}
}
