package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/client"
)

// view is what every page template receives.
type view struct {
	Title string
	User  *client.Account
	CSRF  string
	// Section marks the active top navigation entry.
	Section string
	Org     *client.Organization
	WS      *client.ControlPlaneWorkspace
	// Tab marks the active entry of the organization or workspace navigation.
	Tab    string
	Notice string // what a form just did
	Error  string // what went wrong, shown above the content
	Data   any
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", base, err)
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}

var funcs = template.FuncMap{
	"when":        when,
	"duration":    duration,
	"short":       func(id string) string { return truncate(id, 8) },
	"statusClass": statusClass,
	"deref": func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	},
	"join": strings.Join,
	"add":  func(a, b int) int { return a + b },
	// dict passes several values to a nested template.
	"dict": func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// when formats a time for a table cell; the exact value is in a title.
func when(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return "—"
		}
		t = *x
	case client.Time:
		t = x.Time
	case *client.Time:
		if x == nil {
			return "—"
		}
		t = x.Time
	}
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// duration is how long something ran, or "—" when it has not started.
func duration(start, end *client.Time) string {
	if d, ok := client.Ran(start, end); ok {
		return d.String()
	}
	return "—"
}

// statusClass is the CSS class of a run or step status; the status word is
// always printed too, so colour is never the only cue.
func statusClass(s string) string {
	switch s {
	case client.StatusCompleted:
		return "st-ok"
	case client.StatusFailed:
		return "st-fail"
	case client.StatusRunning, client.StatusInitializing, client.StatusRetrying:
		return "st-run"
	case client.StatusCached:
		return "st-cached"
	case client.StatusStopping, client.StatusStopped:
		return "st-stop"
	}
	return "st-other"
}

func (u *UI) view(s *session, title string) *view {
	v := &view{Title: title}
	if s != nil {
		v.User, v.CSRF = &s.user, s.csrf
	}
	return v
}

// render writes page name with v and status.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	t, ok := u.pages[name]
	if !ok {
		panic("dashboard: no page " + name)
	}
	if v.CSRF == "" {
		v.CSRF = u.ensureCSRF(w, r)
	}
	if v.Notice == "" {
		v.Notice = notices[r.URL.Query().Get("done")]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		u.opts.Log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "the page could not be drawn", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// notices are the messages a redirect after a successful form may ask for,
// by key, so that no text from the address bar reaches the page.
var notices = map[string]string{
	"org-created":    "Organization created.",
	"org-renamed":    "Organization updated.",
	"member-added":   "Member added.",
	"member-role":    "Role changed.",
	"member-removed": "Member removed.",
	"invited":        "Invitation created.",
	"inv-deleted":    "Invitation withdrawn.",
	"team-created":   "Team created.",
	"team-member":    "Team updated.",
	"team-deleted":   "Team deleted.",
	"role-created":   "Role created.",
	"role-updated":   "Role saved.",
	"role-deleted":   "Role deleted.",
	"assigned":       "Role assigned.",
	"unassigned":     "Role assignment removed.",
	"user-created":   "User created.",
	"password":       "Password changed.",
	"sa-created":     "Service account created.",
	"sa-deleted":     "Service account deleted.",
	"key-deleted":    "API key deleted.",
	"ws-deleted":     "Workspace deleted.",
	"run-stopped":    "Run stopped.",
	"run-stopping":   "The run will stop once its current step has finished.",
	"run-started":    "Run started: the workspace's workload manager is starting its runner.",
}

// fail shows err on a page of its own: a clear message for the API's refusals
// and a login for an expired session.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	status, msg := explain(err)
	if status == http.StatusUnauthorized {
		u.clearSession(w)
		u.toLogin(w, r)
		return
	}
	if status >= 500 {
		u.opts.Log.Error("dashboard: request failed", "path", r.URL.Path, "err", err)
	}
	u.renderError(w, r, s, status, msg)
}

func (u *UI) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	title := "Something went wrong"
	switch status {
	case http.StatusNotFound:
		title = "Not found"
	case http.StatusForbidden:
		title = "Not allowed"
	}
	v := u.view(s, title)
	v.Data = map[string]any{"Status": status, "Message": msg}
	u.render(w, r, status, "error", v)
}

// explain turns an error into a status and a sentence for a person.
func explain(err error) (int, string) {
	var e *client.Error
	if errors.As(err, &e) {
		switch e.Status {
		case http.StatusForbidden:
			return e.Status, "Your role does not allow this. (" + e.Msg + ")"
		case http.StatusNotFound:
			return e.Status, "There is nothing here, or you may not see it."
		case http.StatusUnauthorized:
			return e.Status, "Your session has ended: log in again."
		case http.StatusTooManyRequests:
			return e.Status, "Too many attempts: wait a moment and try again."
		}
		if e.Status >= 500 {
			return http.StatusBadGateway, "The server could not answer: " + e.Msg
		}
		return e.Status, e.Msg
	}
	if errors.Is(err, errNotConnected) {
		return http.StatusServiceUnavailable, err.Error()
	}
	return http.StatusBadGateway, "The server could not be reached: " + err.Error()
}

// formError returns the message to show next to a form, and whether err is
// one the visitor can fix there (a refusal or bad input); other errors get a
// page of their own.
func formError(err error) (string, int, bool) {
	status, msg := explain(err)
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusConflict, http.StatusForbidden, http.StatusNotFound, http.StatusTooManyRequests:
		var e *client.Error
		if errors.As(err, &e) && status == http.StatusNotFound {
			msg = e.Msg
		}
		return msg, status, true
	}
	return msg, status, false
}
