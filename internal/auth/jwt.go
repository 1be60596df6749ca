package auth

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Claims are the registered JWT claims Enclave uses plus its own few.
type Claims struct {
	Issuer    string   `json:"iss,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	ExpiresAt int64    `json:"exp,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	ID        string   `json:"jti,omitempty"`

	// Kind says what the subject is: "user", "service_account", "workspace",
	// or, on a workspace server, "run" for a token scoped to one pipeline run.
	Kind string `json:"enclave_kind,omitempty"`
	// Scope narrows a token further (a run id for "run" tokens).
	Scope string `json:"enclave_scope,omitempty"`
	// Refresh marks a refresh token, good only for getting a new access token.
	Refresh bool `json:"enclave_refresh,omitempty"`
}

// audience accepts both a string and a list, as RFC 7519 allows.
func (c *Claims) UnmarshalJSON(b []byte) error {
	type plain Claims
	var raw struct {
		plain
		Audience json.RawMessage `json:"aud,omitempty"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*c = Claims(raw.plain)
	c.Audience = nil
	if len(raw.Audience) > 0 {
		var one string
		if err := json.Unmarshal(raw.Audience, &one); err == nil {
			c.Audience = []string{one}
		} else if err := json.Unmarshal(raw.Audience, &c.Audience); err != nil {
			return errors.New("aud must be a string or a list of strings")
		}
	}
	return nil
}

// ErrInvalidToken is returned for any token that fails verification; the
// reason is wrapped for logs.
var ErrInvalidToken = errors.New("invalid token")

// ErrExpiredToken is returned for a well-signed token past its expiry.
var ErrExpiredToken = fmt.Errorf("%w: expired", ErrInvalidToken)

type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ,omitempty"`
	Kid string `json:"kid,omitempty"`
}

var b64 = base64.RawURLEncoding

func encodeSegments(h header, c Claims) (string, error) {
	hb, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(hb) + "." + b64.EncodeToString(cb), nil
}

func splitToken(token string) (h header, payload []byte, signed string, sig []byte, err error) {
	if len(token) > 8192 {
		return h, nil, "", nil, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return h, nil, "", nil, fmt.Errorf("%w: not a JWT", ErrInvalidToken)
	}
	hb, err1 := b64.DecodeString(parts[0])
	payload, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return h, nil, "", nil, fmt.Errorf("%w: bad encoding", ErrInvalidToken)
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return h, nil, "", nil, fmt.Errorf("%w: bad header", ErrInvalidToken)
	}
	return h, payload, parts[0] + "." + parts[1], sig, nil
}

// Validation says what a verifier requires besides a good signature.
type Validation struct {
	Issuer   string
	Audience string // when set, the token's aud must contain it
	Now      func() time.Time
	Leeway   time.Duration
}

func (v Validation) check(payload []byte) (Claims, error) {
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, fmt.Errorf("%w: bad claims", ErrInvalidToken)
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	if c.ExpiresAt == 0 {
		return c, fmt.Errorf("%w: no expiry", ErrInvalidToken)
	}
	if now.Add(-v.Leeway).Unix() >= c.ExpiresAt {
		return c, ErrExpiredToken
	}
	if c.NotBefore != 0 && now.Add(v.Leeway).Unix() < c.NotBefore {
		return c, fmt.Errorf("%w: not yet valid", ErrInvalidToken)
	}
	if v.Issuer != "" && c.Issuer != v.Issuer {
		return c, fmt.Errorf("%w: issuer %q", ErrInvalidToken, c.Issuer)
	}
	if v.Audience != "" && !slices.Contains(c.Audience, v.Audience) {
		return c, fmt.Errorf("%w: audience", ErrInvalidToken)
	}
	return c, nil
}

// NewID returns a random token id.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b64.EncodeToString(b)
}

// HMACSigner signs and verifies HS256 tokens with a shared secret: the
// workspace server's own session tokens.
type HMACSigner struct {
	key []byte
}

// NewHMACSigner returns a signer for key, which must be at least 32 bytes.
func NewHMACSigner(key []byte) (*HMACSigner, error) {
	if len(key) < 32 {
		return nil, errors.New("JWT secret key must be at least 32 bytes")
	}
	return &HMACSigner{key: slices.Clone(key)}, nil
}

// Sign returns the signed token for c.
func (s *HMACSigner) Sign(c Claims) (string, error) {
	signing, err := encodeSegments(header{Alg: "HS256", Typ: "JWT"}, c)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(signing))
	return signing + "." + b64.EncodeToString(mac.Sum(nil)), nil
}

// Verify checks token's signature and claims.
func (s *HMACSigner) Verify(token string, v Validation) (Claims, error) {
	h, payload, signing, sig, err := splitToken(token)
	if err != nil {
		return Claims{}, err
	}
	if h.Alg != "HS256" {
		return Claims{}, fmt.Errorf("%w: algorithm %q", ErrInvalidToken, h.Alg)
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(signing))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return Claims{}, fmt.Errorf("%w: signature", ErrInvalidToken)
	}
	return v.check(payload)
}

// KeyPair is an Ed25519 signing key with its key id.
type KeyPair struct {
	ID      string
	Private ed25519.PrivateKey
}

// NewKeyPair makes a fresh Ed25519 key whose id is its RFC 7638 thumbprint.
func NewKeyPair() (KeyPair, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPairFromSeed(priv.Seed())
}

// KeyPairFromSeed rebuilds a key from its 32-byte seed.
func KeyPairFromSeed(seed []byte) (KeyPair, error) {
	if len(seed) != ed25519.SeedSize {
		return KeyPair{}, errors.New("ed25519 seed must be 32 bytes")
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return KeyPair{ID: thumbprint(priv.Public().(ed25519.PublicKey)), Private: priv}, nil
}

func thumbprint(pub ed25519.PublicKey) string {
	// RFC 7638: members in lexicographic order, no white space.
	canon := fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":"%s"}`, b64.EncodeToString(pub))
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

// Sign returns an EdDSA-signed token for c with the key id in its header.
func (k KeyPair) Sign(c Claims) (string, error) {
	signing, err := encodeSegments(header{Alg: "EdDSA", Typ: "JWT", Kid: k.ID}, c)
	if err != nil {
		return "", err
	}
	return signing + "." + b64.EncodeToString(ed25519.Sign(k.Private, []byte(signing))), nil
}

// JWK is one public key in a JSON Web Key Set.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// Public returns the key's public half as a JWK.
func (k KeyPair) Public() JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(k.Private.Public().(ed25519.PublicKey)), Kid: k.ID, Use: "sig", Alg: "EdDSA"}
}

// Verify checks an EdDSA token against the key set: the key named by the
// token's kid must be in the set.
func (s JWKS) Verify(token string, v Validation) (Claims, error) {
	h, payload, signing, sig, err := splitToken(token)
	if err != nil {
		return Claims{}, err
	}
	if h.Alg != "EdDSA" {
		return Claims{}, fmt.Errorf("%w: algorithm %q", ErrInvalidToken, h.Alg)
	}
	for _, k := range s.Keys {
		if k.Kid != h.Kid || k.Kty != "OKP" || k.Crv != "Ed25519" {
			continue
		}
		pub, err := b64.DecodeString(k.X)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return Claims{}, fmt.Errorf("%w: bad key %s in set", ErrInvalidToken, k.Kid)
		}
		if !ed25519.Verify(ed25519.PublicKey(pub), []byte(signing), sig) {
			return Claims{}, fmt.Errorf("%w: signature", ErrInvalidToken)
		}
		return v.check(payload)
	}
	return Claims{}, fmt.Errorf("%w: unknown key id %q", ErrInvalidToken, h.Kid)
}
