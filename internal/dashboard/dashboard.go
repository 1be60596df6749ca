// Package dashboard is the control plane's web interface: server-rendered
// pages and a few embedded static files, so that it works behind a firewall
// with no CDN and builds with `go build` alone.
//
// The dashboard is a client of the APIs, never of the stores: it calls the
// control plane's API in-process with the user's own token and the workspace
// servers' APIs over HTTP, so every rule it shows is the API's rule.
package dashboard

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/client"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Options configure a UI.
type Options struct {
	// ControlPlane serves the control plane's API; the dashboard calls it
	// in-process, so no request leaves the process for it.
	ControlPlane http.Handler
	// PublicURL is the dashboard's external URL; https makes cookies Secure,
	// and its origin is accepted on form posts.
	PublicURL string
	// HTTPClient calls workspace servers; nil means a client with a timeout.
	HTTPClient *http.Client
	Log        *slog.Logger
}

// UI is the dashboard.
type UI struct {
	opts   Options
	cp     *http.Client // in-process transport to the control plane
	pages  map[string]*template.Template
	secure bool
	origin string // of PublicURL, "" when unset
	ws     *tokenCache
	static http.Handler
}

// cpBase is the control plane's base URL for the in-process client; the host
// is never dialled.
const cpBase = "http://controlplane.internal"

// New builds the dashboard.
func New(o Options) (*UI, error) {
	if o.ControlPlane == nil {
		return nil, errors.New("dashboard: Options.ControlPlane is required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	u := &UI{
		opts: o,
		cp:   &http.Client{Transport: handlerTransport{o.ControlPlane}, Timeout: 60 * time.Second},
		ws:   newTokenCache(),
	}
	if o.PublicURL != "" {
		pu, err := url.Parse(o.PublicURL)
		if err != nil || pu.Host == "" {
			return nil, errors.New("dashboard: PublicURL must be an absolute URL")
		}
		u.secure = pu.Scheme == "https"
		u.origin = pu.Scheme + "://" + pu.Host
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	u.pages = pages
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	u.static = http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static)))
	return u, nil
}

// Routes mounts the dashboard's pages with mount (the control plane's
// Server.Mount). The control plane keeps /api/ and /health.
func (u *UI) Routes(mount func(pattern string, h http.Handler)) {
	for _, rt := range u.routes() {
		mount(rt.pattern, u.wrap(rt))
	}
}

// cp returns a control-plane client acting with the session's token.
func (u *UI) cpClient(token string) *client.ControlPlane {
	return client.NewControlPlane(cpBase, token, u.cp)
}

// handlerTransport serves requests with an http.Handler in-process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0" // the dashboard itself
	if in.Body == nil {
		in.Body = http.NoBody
	}
	t.h.ServeHTTP(rec, in)
	return &http.Response{
		Status:        http.StatusText(rec.status),
		StatusCode:    rec.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rec.header,
		Body:          readCloser{bytes.NewReader(rec.body.Bytes())},
		ContentLength: int64(rec.body.Len()),
		Request:       req,
	}, nil
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

type recorder struct {
	header http.Header
	body   bytes.Buffer
	status int
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}

// cacheStatic lets browsers keep assets for an hour; they change only with
// the binary.
func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// csp keeps every asset, script, form and connection on the dashboard's own
// origin: a page that tried to load a font or script from elsewhere would be
// refused by the browser.
const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (u *UI) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		if rt.public {
			rt.h(w, r, nil)
			return
		}
		s, ok := u.session(r)
		if !ok {
			u.toLogin(w, r)
			return
		}
		if r.Method == http.MethodPost {
			if err := u.checkPost(r); err != nil {
				u.renderError(w, r, s, http.StatusForbidden, err.Error())
				return
			}
		}
		rt.h(w, r, s)
	})
}

func (u *UI) toLogin(w http.ResponseWriter, r *http.Request) {
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet || next == "/" {
		next = ""
	}
	target := "/login"
	if next != "" {
		target += "?next=" + url.QueryEscape(next)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
