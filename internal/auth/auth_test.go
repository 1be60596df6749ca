package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHashSecret(t *testing.T) {
	h, err := HashSecret("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "correct horse") || !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("hash %q", h)
	}
	if !CheckSecret(h, "correct horse") {
		t.Fatal("right secret refused")
	}
	for _, bad := range []string{"", "correct hors", "correct horse "} {
		if CheckSecret(h, bad) {
			t.Fatalf("wrong secret %q accepted", bad)
		}
	}
	if CheckSecret("", "anything") || CheckSecret("$argon2id$garbage", "x") {
		t.Fatal("missing or broken hash accepted")
	}
	h2, _ := HashSecret("correct horse")
	if h == h2 {
		t.Fatal("two hashes of one secret are equal: no salt")
	}
}

func TestEdDSATokens(t *testing.T) {
	k, err := NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewKeyPair()
	set := JWKS{Keys: []JWK{k.Public()}}
	now := time.Unix(1_800_000_000, 0)
	v := Validation{Issuer: "cp", Audience: "ws-1", Now: func() time.Time { return now }}
	c := Claims{Issuer: "cp", Subject: "u1", Audience: []string{"ws-1"}, ExpiresAt: now.Add(time.Hour).Unix(), Kind: "user"}
	tok, err := k.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := set.Verify(tok, v)
	if err != nil || got.Subject != "u1" || got.Kind != "user" {
		t.Fatalf("Verify = %+v, %v", got, err)
	}

	otherTok, _ := other.Sign(c)
	expired := c
	expired.ExpiresAt = now.Add(-time.Second).Unix()
	expTok, _ := k.Sign(expired)
	wrongAud := c
	wrongAud.Audience = []string{"ws-2"}
	audTok, _ := k.Sign(wrongAud)
	noExp := c
	noExp.ExpiresAt = 0
	noExpTok, _ := k.Sign(noExp)
	hs, _ := NewHMACSigner([]byte(strings.Repeat("k", 32)))
	hsTok, _ := hs.Sign(c)
	parts := strings.Split(tok, ".")
	tampered := parts[0] + "." + b64.EncodeToString([]byte(`{"sub":"admin","exp":9999999999,"iss":"cp","aud":"ws-1"}`)) + "." + parts[2]

	for name, bad := range map[string]string{
		"unknown key": otherTok, "expired": expTok, "audience": audTok, "no expiry": noExpTok,
		"other algorithm": hsTok, "tampered claims": tampered, "garbage": "a.b.c", "empty": "",
	} {
		if _, err := set.Verify(bad, v); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: err = %v, want invalid token", name, err)
		}
	}
	if _, err := set.Verify(expTok, v); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("expired token: err = %v", err)
	}
}

func TestHMACTokens(t *testing.T) {
	if _, err := NewHMACSigner([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	s, _ := NewHMACSigner([]byte(strings.Repeat("a", 32)))
	s2, _ := NewHMACSigner([]byte(strings.Repeat("b", 32)))
	c := Claims{Subject: "u", ExpiresAt: time.Now().Add(time.Minute).Unix(), Audience: []string{"x"}}
	tok, _ := s.Sign(c)
	if _, err := s.Verify(tok, Validation{Audience: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Verify(tok, Validation{}); err == nil {
		t.Fatal("token verified with another key")
	}
	k, _ := NewKeyPair()
	edTok, _ := k.Sign(c)
	if _, err := s.Verify(edTok, Validation{}); err == nil {
		t.Fatal("EdDSA token accepted by the HMAC verifier")
	}
}

func TestAudienceAsString(t *testing.T) {
	var c Claims
	if err := c.UnmarshalJSON([]byte(`{"aud":"one","sub":"s"}`)); err != nil || len(c.Audience) != 1 || c.Audience[0] != "one" || c.Subject != "s" {
		t.Fatalf("%+v %v", c, err)
	}
	if err := c.UnmarshalJSON([]byte(`{"aud":5}`)); err == nil {
		t.Fatal("numeric aud accepted")
	}
}

func TestThrottle(t *testing.T) {
	th := NewThrottle()
	now := time.Unix(0, 0)
	th.now = func() time.Time { return now }
	for i := 0; i < th.SlowAfter; i++ {
		if ok, wait, _ := th.Check("u"); !ok || wait != 0 {
			t.Fatalf("attempt %d: ok=%v wait=%v", i, ok, wait)
		}
		th.Fail("u")
	}
	if ok, wait, _ := th.Check("u"); !ok || wait != th.Delay {
		t.Fatalf("after %d failures: ok=%v wait=%v, want slowed", th.SlowAfter, ok, wait)
	}
	for i := th.SlowAfter; i < th.LockAfter; i++ {
		th.Fail("u")
	}
	if ok, _, retry := th.Check("u"); ok || retry != th.LockFor {
		t.Fatalf("after %d failures: ok=%v retry=%v, want locked", th.LockAfter, ok, retry)
	}
	if ok, _, _ := th.Check("v"); !ok {
		t.Fatal("another key locked too")
	}
	now = now.Add(th.LockFor)
	if ok, _, _ := th.Check("u"); !ok {
		t.Fatal("still locked after the lock period")
	}
	th.Fail("u")
	if ok, wait, _ := th.Check("u"); !ok || wait != 0 {
		t.Fatal("the count did not restart after the lock ran out")
	}
	th.Succeed("u")
	if _, wait, _ := th.Check("u"); wait != 0 {
		t.Fatal("success did not clear the failures")
	}
}
