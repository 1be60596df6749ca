// Package uptest starts, for tests, the servers that `enclave up` starts: a
// control plane with its dashboard, and workspace servers enrolled in it, all
// on SQLite in temporary folders and on loopback ports; and builds the
// enclave binary, for tests that run it.
package uptest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/controlplane"
	"github.com/enclave-mlops/enclave/internal/dashboard"
	"github.com/enclave-mlops/enclave/internal/workspace"
)

// AdminPassword is the control plane administrator's password.
const AdminPassword = "admin-password-0123"

// ControlPlane is a running control plane with the dashboard mounted.
type ControlPlane struct {
	URL    string
	Server *controlplane.Server
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serve runs a server's Run on ln until the test ends.
func serve(t testing.TB, ln net.Listener, run func(context.Context, net.Listener) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("server: %v", err)
		}
	})
}

// StartControlPlane starts a control plane and its dashboard, as `enclave up`
// wires them.
func StartControlPlane(t testing.TB) *ControlPlane {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	cp, err := controlplane.New(context.Background(), controlplane.Config{
		Listen: ln.Addr().String(), DatabaseURL: "sqlite:///" + filepath.Join(t.TempDir(), "cp.db"),
		ServerURL: url, AdminUsername: "admin", AdminPassword: AdminPassword,
	}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	ui, err := dashboard.New(dashboard.Options{ControlPlane: cp.Handler(), PublicURL: url, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ui.Routes(cp.Mount)
	serve(t, ln, cp.Run)
	return &ControlPlane{URL: url, Server: cp}
}

// Admin returns a client of the control plane logged in as the administrator.
func (c *ControlPlane) Admin(t testing.TB) *client.ControlPlane {
	t.Helper()
	cl := client.NewControlPlane(c.URL, "", &http.Client{Timeout: 30 * time.Second})
	if err := cl.Login(context.Background(), "admin", AdminPassword); err != nil {
		t.Fatal(err)
	}
	return cl
}

// Workspace is a running workspace server enrolled in a control plane.
type Workspace struct {
	URL    string
	Server *workspace.Server
}

// StartWorkspace starts the workspace server of ws (as the control plane
// answered its enrollment, key included) in pro mode against cpURL, and waits
// until it has reported its status. Variables in extra are added to (or
// replace) its environment, such as a workload manager's.
func StartWorkspace(t testing.TB, cpURL string, ws client.ControlPlaneWorkspace, extra ...map[string]string) *Workspace {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	dir := t.TempDir()
	cfg, err := workspace.LoadConfig(func(name string) string {
		for _, e := range extra {
			if v, ok := e[name]; ok {
				return v
			}
		}
		return map[string]string{
			"ZENML_STORE_URL":                       "sqlite:///" + filepath.Join(dir, "workspace.db"),
			"ZENML_SERVER_URL":                      url,
			"ZENML_SERVER_DEPLOYMENT_TYPE":          "cloud",
			"ZENML_SERVER_PRO_API_URL":              cpURL + "/api/v1",
			"ZENML_SERVER_PRO_DASHBOARD_URL":        cpURL,
			"ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET": ws.EnrollmentKey,
			"ZENML_SERVER_PRO_ORGANIZATION_ID":      ws.Organization.ID,
			"ZENML_SERVER_PRO_ORGANIZATION_NAME":    ws.Organization.Name,
			"ZENML_SERVER_PRO_WORKSPACE_ID":         ws.ID,
			"ZENML_SERVER_PRO_WORKSPACE_NAME":       ws.Name,
			"ZENML_SERVER_JWT_SECRET_KEY":           "0123456789abcdef0123456789abcdef",
			"ZENML_SECRETS_STORE_TYPE":              "sql",
			"ZENML_SECRETS_STORE_ENCRYPTION_KEY":    "0123456789abcdef0123456789abcdef",
			"ZENML_STORE_BACKUP_STRATEGY":           "disabled",
			"ENCLAVE_LISTEN":                        ln.Addr().String(),
			"ENCLAVE_DATA_DIR":                      filepath.Join(dir, "data"),
		}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := workspace.New(context.Background(), cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	serve(t, ln, srv.Run)
	return &Workspace{URL: url, Server: srv}
}

// WaitReported waits until the control plane knows the workspace's URL,
// which the workspace reports when it starts.
func WaitReported(t testing.TB, admin *client.ControlPlane, wsID string) {
	t.Helper()
	for i := 0; ; i++ {
		ws, err := admin.GetWorkspace(context.Background(), wsID)
		if err == nil && ws.Status.URL != "" {
			return
		}
		if i == 300 {
			t.Fatalf("workspace %s never reported its status: %+v, %v", wsID, ws.Status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BuildEnclave builds the enclave binary into a folder of t's and returns
// its path.
func BuildEnclave(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "enclave")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/enclave-mlops/enclave/cmd/enclave")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
