package dashboard_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/runner"
	"github.com/enclave-mlops/enclave/internal/uptest"
)

// env is a control plane with the dashboard, an organization and one
// enrolled, running workspace server.
type env struct {
	cp    *uptest.ControlPlane
	admin *client.ControlPlane
	org   client.Organization
	ws    client.ControlPlaneWorkspace
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{cp: uptest.StartControlPlane(t)}
	e.admin = e.cp.Admin(t)
	var err error
	if e.org, err = e.admin.CreateOrganization(ctx, "acme", "test organization"); err != nil {
		t.Fatal(err)
	}
	if e.ws, err = e.admin.CreateWorkspace(ctx, e.org.ID, "research", true); err != nil {
		t.Fatal(err)
	}
	uptest.StartWorkspace(t, e.cp.URL, e.ws)
	uptest.WaitReported(t, e.admin, e.ws.ID)
	return e
}

// user creates a person and makes them a member with role.
func (e *env) user(t *testing.T, name, role string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.admin.CreateUser(ctx, name, name+"-password", name+"@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.AddMember(ctx, e.org.ID, name, role); err != nil {
		t.Fatal(err)
	}
}

// threeSteps is a YAML pipeline of three steps with artifacts between them.
const threeSteps = `name: training
steps:
  - name: load
    command: 'echo loading rows; printf "1,2\n3,4\n" > "$ENCLAVE_OUTPUT_DATA"'
    outputs: [data]
  - name: train
    inputs: {data: load.data}
    command: 'echo "rows $(wc -l < "$ENCLAVE_INPUT_DATA")"; echo weights > "$ENCLAVE_OUTPUT_MODEL"'
    outputs: [model]
  - name: evaluate
    inputs: {model: train.model, data: load.data}
    command: 'echo accuracy 0.93'
`

// runPipeline runs the YAML pipeline at the workspace as the administrator,
// with the same runner `enclave pipeline run` uses, and returns the run id.
func (e *env) runPipeline(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	rec, err := e.admin.GetWorkspace(ctx, e.ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	wc := client.NewWorkspace(rec.Status.URL, "", &http.Client{Timeout: 30 * time.Second})
	if _, err := wc.LoginExternal(ctx, e.admin.Token); err != nil {
		t.Fatal(err)
	}
	spec, err := runner.Parse([]byte(threeSteps))
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&runner.Runner{WS: wc, ArtifactDir: t.TempDir()}).Run(ctx, spec)
	if err != nil || res.Status != client.StatusCompleted {
		t.Fatalf("pipeline run: %+v, %v", res, err)
	}
	return res.RunID
}

// browser is a person at the dashboard: a cookie jar and the forms' token.
type browser struct {
	t    testing.TB
	base string
	hc   *http.Client
	// origin is sent with posts; tests change it to play another site.
	origin string
}

func (e *env) browser(t *testing.T) *browser { return newBrowser(t, e.cp.URL) }

func newBrowser(t testing.TB, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}, origin: base}
}

func (b *browser) do(req *http.Request) (int, string) {
	b.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

// csrf returns the token the forms of the pages carry (the cookie's value).
func (b *browser) csrf() string {
	u, _ := url.Parse(b.base)
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == "enclave_csrf" {
			return c.Value
		}
	}
	return ""
}

// post sends a form with the page's CSRF token, as the browser would.
func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	if form.Get("csrf_token") == "" {
		form.Set("csrf_token", b.csrf())
	}
	return b.rawPost(path, form)
}

func (b *browser) rawPost(path string, form url.Values) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, bytes.NewBufferString(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	return b.do(req)
}

func (b *browser) login(user, password string) {
	b.t.Helper()
	b.get("/login") // sets the CSRF cookie
	status, body := b.post("/login", url.Values{"username": {user}, "password": {password}})
	if status != http.StatusOK || !strings.Contains(body, "Log out") {
		b.t.Fatalf("login as %s: %d\n%s", user, status, body)
	}
}

func wantPage(t *testing.T, status int, body string, wantStatus int, wants ...string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status %d, want %d\n%s", status, wantStatus, body)
	}
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Fatalf("page lacks %q:\n%s", w, body)
		}
	}
}
