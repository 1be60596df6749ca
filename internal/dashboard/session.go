package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/enclave-mlops/enclave/client"
)

const (
	// sessionCookie holds the control plane's access token; the control
	// plane's API accepts the same cookie as a bearer token.
	sessionCookie = "enclave_session"
	// csrfCookie holds the double-submit token that every form repeats. It is
	// not bound to a server secret, so any replica of the control plane
	// accepts a form that another rendered.
	csrfCookie = "enclave_csrf"
	csrfField  = "csrf_token"
)

// session is a logged-in visitor.
type session struct {
	token string
	user  client.Account
	csrf  string
	cp    *client.ControlPlane
}

// session returns the visitor's session when the cookie holds a token the
// control plane still accepts.
func (u *UI) session(r *http.Request) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, false
	}
	cp := u.cpClient(c.Value)
	me, err := cp.CurrentUser(r.Context())
	if err != nil {
		return nil, false
	}
	return &session{token: c.Value, user: me, cp: cp, csrf: csrfOf(r)}, true
}

func (u *UI) setSession(w http.ResponseWriter, token string, expiresIn int64) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", MaxAge: int(expiresIn),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: u.secure,
	})
}

func (u *UI) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: u.secure})
}

// csrfOf returns the request's CSRF token from its cookie, or "".
func csrfOf(r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	return ""
}

// ensureCSRF returns the CSRF token, setting a new cookie when the visitor
// has none (the login form needs one before any session exists).
func (u *UI) ensureCSRF(w http.ResponseWriter, r *http.Request) string {
	if t := csrfOf(r); t != "" {
		return t
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	t := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: t, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: u.secure})
	return t
}

var (
	errCSRF   = errors.New("the form has expired or did not come from this dashboard: reload the page and try again")
	errOrigin = errors.New("the form was posted from another site")
)

// checkPost refuses a form post that did not come from one of our pages: its
// Origin (or Referer) must be this site, and its token must match the cookie.
func (u *UI) checkPost(r *http.Request) error {
	if err := u.checkOrigin(r); err != nil {
		return err
	}
	want := csrfOf(r)
	got := r.PostFormValue(csrfField)
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return errCSRF
	}
	return nil
}

func (u *UI) checkOrigin(r *http.Request) error {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		ref := r.Header.Get("Referer")
		if ref == "" {
			return nil // no header to check; the token still must match
		}
		o = originOf(ref)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if o == scheme+"://"+r.Host || (u.origin != "" && o == u.origin) {
		return nil
	}
	return errOrigin
}

func originOf(ref string) string {
	i := strings.Index(ref, "://")
	if i < 0 {
		return ""
	}
	rest := ref[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	return ref[:i+3] + rest
}

// tokenCache keeps each session's workspace tokens in memory until they
// expire, so a page does not log in at the workspace again.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]wsToken
}

type wsToken struct {
	token   string
	expires time.Time
}

func newTokenCache() *tokenCache { return &tokenCache{m: map[string]wsToken{}} }

func cacheKey(session, ws string) string {
	h := sha256.Sum256([]byte(session + "\x00" + ws))
	return hex.EncodeToString(h[:])
}

func (c *tokenCache) get(key string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[key]
	if !ok || now.After(t.expires) {
		return "", false
	}
	return t.token, true
}

func (c *tokenCache) put(key, token string, expires, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, t := range c.m { // drop the expired ones as new ones come
		if now.After(t.expires) {
			delete(c.m, k)
		}
	}
	c.m[key] = wsToken{token: token, expires: expires}
}

func (c *tokenCache) drop(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// workspace returns a client of workspace ws logged in as the session's user
// with the zenml-external grant, and the control plane's record of it.
func (u *UI) workspace(ctx context.Context, s *session, wsID string) (*client.Workspace, client.ControlPlaneWorkspace, error) {
	rec, err := s.cp.GetWorkspace(ctx, wsID)
	if err != nil {
		return nil, rec, err
	}
	if rec.Status.URL == "" {
		return nil, rec, errNotConnected
	}
	key := cacheKey(s.token, wsID)
	now := time.Now()
	if tok, ok := u.ws.get(key, now); ok {
		return client.NewWorkspace(rec.Status.URL, tok, u.opts.HTTPClient), rec, nil
	}
	wc := client.NewWorkspace(rec.Status.URL, "", u.opts.HTTPClient)
	tr, err := wc.LoginExternal(ctx, s.token)
	if err != nil {
		return nil, rec, err
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	if life <= 0 || life > time.Hour {
		life = time.Hour
	}
	u.ws.put(key, tr.AccessToken, now.Add(life-30*time.Second), now)
	return wc, rec, nil
}

var errNotConnected = errors.New("this workspace server has not reported to the control plane yet: install it with its Helm values, then reload")
