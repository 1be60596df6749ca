// Package seed runs the original system's own client scripts, unmodified,
// from ../shared/seed/, against Enclave's servers: the proof that we speak the
// same protocol.
package seed

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"sigs.k8s.io/yaml"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/controlplane"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

const adminPassword = "seed-admin-password"

// seedScript finds the seed's enrollment script next to the repository.
func seedScript(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../../shared/seed/enroll-workspace.py")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the seed's enrollment script is missing: %v", err)
	}
	return p
}

func python(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import requests").Run(); err != nil {
		if sqldbtest.Required() {
			t.Fatalf("%s with requests is required (apt-get install python3-requests): %v", py, err)
		}
		t.Skipf("%s with requests not available: %v", py, err)
	}
	return py
}

// startControlPlane runs a control plane on a real loopback port.
func startControlPlane(t *testing.T) (string, *client.ControlPlane) {
	t.Helper()
	cfg := controlplane.Config{
		Listen:        "127.0.0.1:0",
		DatabaseURL:   sqldbtest.URL(t, "sqlite"),
		AdminUsername: "admin",
		AdminPassword: adminPassword,
	}
	srv, err := controlplane.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	cp := client.NewControlPlane(ts.URL, "", nil)
	if err := cp.Login(context.Background(), "admin", adminPassword); err != nil {
		t.Fatal(err)
	}
	return ts.URL, cp
}

// session drives the script on a pseudo-terminal, as a person would: it
// waits for each prompt and types the answer.
type session struct {
	t      *testing.T
	cmd    *exec.Cmd
	tty    *os.File
	mu     sync.Mutex
	out    strings.Builder
	notify chan struct{}
	done   chan error
}

func runScript(t *testing.T, dir string) *session {
	t.Helper()
	cmd := exec.Command(python(t), seedScript(t))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, cmd: cmd, tty: tty, notify: make(chan struct{}, 1), done: make(chan error, 1)}
	go func() {
		r := bufio.NewReader(tty)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				s.mu.Lock()
				s.out.Write(buf[:n])
				s.mu.Unlock()
				select {
				case s.notify <- struct{}{}:
				default:
				}
			}
			if err != nil {
				break
			}
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		tty.Close()
	})
	return s
}

func (s *session) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.ReplaceAll(s.out.String(), "\r\n", "\n")
}

// expect waits until the output since the last answer holds want, then types
// answer (and Enter).
func (s *session) expect(want, answer string) {
	s.t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(s.output(), want) {
		select {
		case <-s.notify:
		case <-deadline:
			s.t.Fatalf("waited for %q; the script printed:\n%s", want, s.output())
		}
	}
	s.mu.Lock()
	s.out.Reset()
	s.mu.Unlock()
	if _, err := io.WriteString(s.tty, answer+"\n"); err != nil {
		s.t.Fatal(err)
	}
}

// wait waits for the script to end and returns everything printed after the
// last answer, and the exit code.
func (s *session) wait() (string, int) {
	s.t.Helper()
	select {
	case err := <-s.done:
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			s.t.Fatal(err)
		}
		return s.output(), code
	case <-time.After(60 * time.Second):
		s.t.Fatalf("the script did not end; it printed:\n%s", s.output())
	}
	return "", -1
}

// answerUpToName answers the script's questions through the workspace name
// for a control plane with one organization, org.
func (s *session) answerUpToName(base string, org client.Organization, name string) {
	s.t.Helper()
	s.expect("What is the URL of your ZenML Pro instance?", base)
	s.expect("Enter the ZenML Pro admin account username [admin]:", "")
	s.expect("Enter the ZenML Pro admin account password:", adminPassword)
	s.expect("The following organization was found: "+org.Name+" ["+org.ID+"]. Use this organization? (y/n) [n]:", "y")
	s.expect("Choose a name for the workspace (only lowercase letters, numbers, and hyphens) [zenml-", name)
}

var enrolledLine = regexp.MustCompile(`Workspace enrolled successfully: ([a-z0-9-]+) \[([0-9a-f-]{36})\]`)

// values is the part of the written values file the test checks.
type values struct {
	Zenml struct {
		Database struct {
			URL string `json:"url"`
		} `json:"database"`
		Pro struct {
			APIURL           string `json:"apiURL"`
			DashboardURL     string `json:"dashboardURL"`
			Enabled          bool   `json:"enabled"`
			EnrollmentKey    string `json:"enrollmentKey"`
			OrganizationID   string `json:"organizationID"`
			OrganizationName string `json:"organizationName"`
			WorkspaceID      string `json:"workspaceID"`
			WorkspaceName    string `json:"workspaceName"`
		} `json:"pro"`
		SecretsStore struct {
			SQL struct {
				EncryptionKey string `json:"encryptionKey"`
			} `json:"sql"`
		} `json:"secretsStore"`
	} `json:"zenml"`
}

// checkEnrolled checks the script's closing words and values file, and that
// the written enrollment key logs the workspace in.
func checkEnrolled(t *testing.T, base, dir, out, name string, org client.Organization) values {
	t.Helper()
	m := enrolledLine.FindStringSubmatch(out)
	if m == nil || m[1] != name {
		t.Fatalf("no enrollment line for %s in:\n%s", name, out)
	}
	wsID := m[2]
	file := filepath.Join(dir, "zenml-"+name+"-values.yaml")
	for _, want := range []string{
		"The workspace was enrolled successfully. It can be accessed at:",
		base + "/workspaces/" + name,
		"The workspace server Helm values were written to: zenml-" + name + "-values.yaml",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v values
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatalf("values file is not YAML: %v\n%s", err, raw)
	}
	p := v.Zenml.Pro
	if !p.Enabled || p.APIURL != base+"/api/v1" || p.DashboardURL != base || p.WorkspaceID != wsID ||
		p.WorkspaceName != name || p.OrganizationID != org.ID || p.OrganizationName != org.Name || p.EnrollmentKey == "" {
		t.Fatalf("values file pro section = %+v", p)
	}
	if len(v.Zenml.SecretsStore.SQL.EncryptionKey) != 64 {
		t.Errorf("encryption key %q", v.Zenml.SecretsStore.SQL.EncryptionKey)
	}
	// The key in the file is the workspace's credential.
	if err := workspaceLogin(base, wsID, p.EnrollmentKey); err != nil {
		t.Fatalf("the written enrollment key does not log the workspace in: %v", err)
	}
	return v
}

func workspaceLogin(base, id, key string) error {
	h := client.HTTP{BaseURL: base}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	return h.PostForm(context.Background(), "/api/v1/auth/login", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {key},
	}, &tok)
}

func TestEnrollScriptOneOrganization(t *testing.T) {
	base, cp := startControlPlane(t)
	ctx := context.Background()
	org, err := cp.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := runScript(t, dir)
	s.answerUpToName(base, org, "ml-team")
	out, code := s.wait()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	checkEnrolled(t, base, dir, out, "ml-team", org)

	ws, err := cp.ListWorkspaces(ctx, org.ID, "ml-team")
	if err != nil || len(ws) != 1 || !ws[0].Enrolled {
		t.Fatalf("workspaces after enrollment: %+v, %v", ws, err)
	}
}

func TestEnrollScriptSeveralOrganizations(t *testing.T) {
	base, cp := startControlPlane(t)
	ctx := context.Background()
	if _, err := cp.CreateOrganization(ctx, "first", ""); err != nil {
		t.Fatal(err)
	}
	second, err := cp.CreateOrganization(ctx, "second", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := runScript(t, dir)
	s.expect("What is the URL of your ZenML Pro instance?", base)
	s.expect("username [admin]:", "admin")
	s.expect("password:", adminPassword)
	s.expect("Which organization ID should the workspace be enrolled in?", "not-an-org")
	s.expect("Invalid organization ID. Please try again.", "")
	// The empty answer is refused and the question asked again.
	s.expect("Please provide a value.", second.ID)
	s.expect("Choose a name for the workspace", "second-ws")
	out, code := s.wait()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	checkEnrolled(t, base, dir, out, "second-ws", second)
}

func TestEnrollScriptOverwrite(t *testing.T) {
	base, cp := startControlPlane(t)
	ctx := context.Background()
	org, err := cp.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	old, err := cp.CreateWorkspace(ctx, org.ID, "shared-ws", true)
	if err != nil {
		t.Fatal(err)
	}

	// Declining leaves the workspace alone.
	dir := t.TempDir()
	s := runScript(t, dir)
	s.answerUpToName(base, org, "shared-ws")
	s.expect("A workspace with name shared-ws already exists. Overwrite? (y/n) [n]:", "")
	out, code := s.wait()
	if code != 0 || !strings.Contains(out, "Exiting.") {
		t.Fatalf("declining: exit %d:\n%s", code, out)
	}
	if err := workspaceLogin(base, old.ID, old.EnrollmentKey); err != nil {
		t.Fatalf("declining changed the workspace: %v", err)
	}

	// Accepting deletes it and enrolls a new one.
	s = runScript(t, dir)
	s.answerUpToName(base, org, "shared-ws")
	s.expect("already exists. Overwrite? (y/n) [n]:", "y")
	out, code = s.wait()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "Workspace deleted successfully: "+old.ID) {
		t.Fatalf("no deletion line:\n%s", out)
	}
	v := checkEnrolled(t, base, dir, out, "shared-ws", org)
	if v.Zenml.Pro.WorkspaceID == old.ID {
		t.Fatal("the workspace kept its id")
	}
	err = workspaceLogin(base, old.ID, old.EnrollmentKey)
	if client.StatusOf(err) != http.StatusUnauthorized {
		t.Fatalf("the deleted workspace's key: err = %v, want 401", err)
	}
}

func TestEnrollScriptWrongPassword(t *testing.T) {
	base, _ := startControlPlane(t)
	s := runScript(t, t.TempDir())
	s.expect("instance?", base)
	s.expect("username [admin]:", "")
	s.expect("password:", "wrong-password")
	out, code := s.wait()
	if code != 1 || !strings.Contains(out, "Login failed. Status code: 401") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
