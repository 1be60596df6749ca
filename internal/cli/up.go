package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/auth"
	"github.com/enclave-mlops/enclave/internal/controlplane"
	"github.com/enclave-mlops/enclave/internal/dashboard"
	"github.com/enclave-mlops/enclave/internal/workspace"
)

// upState is what `enclave up` keeps between starts: the secrets it made on
// the first one. It lives in the data folder with mode 0600.
type upState struct {
	ControlPlaneURL string `json:"controlplane_url"`
	WorkspaceURL    string `json:"workspace_url"`
	AdminPassword   string `json:"admin_password"`
	Organization    struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"organization"`
	Workspace struct {
		ID            string `json:"id"`
		Name          string `json:"name"`
		EnrollmentKey string `json:"enrollment_key"`
	} `json:"workspace"`
	JWTSecretKey  string `json:"jwt_secret_key"`
	EncryptionKey string `json:"encryption_key"`
}

func newUpCmd() *cobra.Command {
	var dataDir, cpListen, wsListen, host string
	var localRuns bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole system on this machine: a control plane and one enrolled workspace, on SQLite",
		Long: `Run a control plane and one workspace server enrolled in it, both on SQLite in a
data folder. The first start creates an administrator, an organization and a
workspace named "default"; later starts find them again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logger(cmd)
			if err != nil {
				return err
			}
			tuneGC()
			if !cmd.Flags().Changed("local-runs") {
				localRuns = isLoopback(host)
			}
			return runUp(cmd.Context(), cmd, log, upOptions{dataDir: dataDir, host: host, cpPort: cpListen, wsPort: wsListen, localRuns: localRuns})
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", ".enclave", "folder for the databases, artifacts, logs and generated secrets")
	f.StringVar(&host, "host", "127.0.0.1", "address to listen on; 0.0.0.0 serves other machines too")
	f.StringVar(&cpListen, "port", "8080", "port of the control plane and dashboard")
	f.StringVar(&wsListen, "workspace-port", "8081", "port of the workspace server")
	f.BoolVar(&localRuns, "local-runs", false, "run snapshots again (\"Run again\") as processes of this machine, as this user; "+
		"on by default only when --host is a loopback address, as no other machine reaches the servers then")
	return cmd
}

// upRunner returns the enclave binary that runs snapshots for the
// workspace of `enclave up`: this one.
var upRunner = os.Executable

// upOptions are the flags of `enclave up`.
type upOptions struct {
	dataDir, host, cpPort, wsPort string
	localRuns                     bool // the workspace runs snapshots as local processes
}

// isLoopback reports whether host is an address only this machine reaches.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

func runUp(ctx context.Context, cmd *cobra.Command, log *slog.Logger, o upOptions) error {
	dataDir, host, cpPort, wsPort := o.dataDir, o.host, o.cpPort, o.wsPort
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	st, first, err := loadUpState(filepath.Join(abs, "up.json"))
	if err != nil {
		return err
	}
	cpLn, err := net.Listen("tcp", net.JoinHostPort(host, cpPort))
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	defer cpLn.Close()
	wsLn, err := net.Listen("tcp", net.JoinHostPort(host, wsPort))
	if err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	defer wsLn.Close()
	cpURL := "http://" + publicAddr(cpLn.Addr(), host)
	wsURL := "http://" + publicAddr(wsLn.Addr(), host)

	cp, err := controlplane.New(ctx, controlplane.Config{
		Listen:        cpLn.Addr().String(),
		DatabaseURL:   "sqlite:///" + filepath.Join(abs, "controlplane.db"),
		ServerURL:     cpURL,
		AdminUsername: "admin",
		AdminPassword: st.AdminPassword,
	}, log.With("server", "controlplane"))
	if err != nil {
		return err
	}
	defer cp.Close()
	ui, err := dashboard.New(dashboard.Options{ControlPlane: cp.Handler(), PublicURL: cpURL, Log: log.With("server", "dashboard")})
	if err != nil {
		return err
	}
	ui.Routes(cp.Mount)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return cp.Run(gctx, cpLn) })

	if st.Workspace.ID == "" {
		if err := enrollDefault(gctx, cpURL, &st); err != nil {
			return err
		}
	}
	st.ControlPlaneURL, st.WorkspaceURL = cpURL, wsURL
	if err := saveUpState(filepath.Join(abs, "up.json"), st); err != nil {
		return err
	}

	env := map[string]string{
		"ZENML_STORE_URL":                       "sqlite:///" + filepath.Join(abs, "workspace.db"),
		"ZENML_SERVER_URL":                      wsURL,
		"ZENML_SERVER_DEPLOYMENT_TYPE":          "cloud",
		"ZENML_SERVER_PRO_API_URL":              cpURL + "/api/v1",
		"ZENML_SERVER_PRO_DASHBOARD_URL":        cpURL,
		"ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET": st.Workspace.EnrollmentKey,
		"ZENML_SERVER_PRO_ORGANIZATION_ID":      st.Organization.ID,
		"ZENML_SERVER_PRO_ORGANIZATION_NAME":    st.Organization.Name,
		"ZENML_SERVER_PRO_WORKSPACE_ID":         st.Workspace.ID,
		"ZENML_SERVER_PRO_WORKSPACE_NAME":       st.Workspace.Name,
		"ZENML_SERVER_JWT_SECRET_KEY":           st.JWTSecretKey,
		"ZENML_SECRETS_STORE_TYPE":              "sql",
		"ZENML_SECRETS_STORE_ENCRYPTION_KEY":    st.EncryptionKey,
		"ZENML_STORE_BACKUP_STRATEGY":           "dump-file",
		"ENCLAVE_LISTEN":                        wsLn.Addr().String(),
		"ENCLAVE_DATA_DIR":                      filepath.Join(abs, "workspace"),
	}
	if o.localRuns {
		// "Run again" runs a snapshot as a process of this machine, its
		// artifacts where 'enclave pipeline run' keeps them.
		runner, err := upRunner()
		if err != nil {
			return fmt.Errorf("find this binary, which runs snapshots again: %w", err)
		}
		env["ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE"] = "local"
		env["ENCLAVE_LOCAL_RUNNER"] = runner
		env["ENCLAVE_ARTIFACT_STORE"] = filepath.Join(abs, "artifacts")
	}
	wcfg, err := workspace.LoadConfig(func(name string) string { return env[name] })
	if err != nil {
		return err
	}
	ws, err := workspace.New(gctx, wcfg, log.With("server", "workspace"))
	if err != nil {
		return err
	}
	defer ws.Close()
	g.Go(func() error { return ws.Run(gctx, wsLn) })

	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "\nEnclave is up (data in %s).\n\n", abs)
	fmt.Fprintf(out, "  Control plane and dashboard  %s\n", cpURL)
	fmt.Fprintf(out, "  Workspace %-18q %s\n", st.Workspace.Name, wsURL)
	fmt.Fprintf(out, "  Organization                 %s [%s]\n\n", st.Organization.Name, st.Organization.ID)
	if first {
		fmt.Fprintf(out, "Log in as admin with the password %s\n", st.AdminPassword)
	} else {
		fmt.Fprintf(out, "Log in as admin; the password is in %s\n", filepath.Join(abs, "up.json"))
	}
	fmt.Fprintf(out, "Run a pipeline from this folder:  enclave pipeline run FILE.yaml\n")
	switch {
	case !o.localRuns && isLoopback(host):
		fmt.Fprintf(out, "Running snapshots again is off (--local-runs=false).\n")
	case !o.localRuns:
		fmt.Fprintf(out, "Running snapshots again is off: other machines reach these servers (--host %s), and\n"+
			"the snapshots' commands would run here as this user; --local-runs turns it on.\n", host)
	}
	fmt.Fprintf(out, "\nPress Ctrl-C to stop.\n")
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// publicAddr is the address to print: the bound one, with a wildcard host
// replaced by loopback so the URL can be opened here.
func publicAddr(a net.Addr, host string) string {
	_, port, _ := net.SplitHostPort(a.String())
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// enrollDefault creates the default organization and workspace through the
// control plane's API, as an administrator would.
func enrollDefault(ctx context.Context, cpURL string, st *upState) error {
	c := client.NewControlPlane(cpURL, "", &http.Client{Timeout: 30 * time.Second})
	var err error
	for i := 0; i < 50; i++ { // the server goroutine may not serve yet
		if err = c.Login(ctx, "admin", st.AdminPassword); err == nil || client.StatusOf(err) != 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("log in to the control plane: %w", err)
	}
	orgs, err := c.ListOrganizations(ctx)
	if err != nil {
		return err
	}
	var org client.Organization
	for _, o := range orgs {
		if o.Name == "default" {
			org = o
		}
	}
	if org.ID == "" {
		if org, err = c.CreateOrganization(ctx, "default", "Created by enclave up"); err != nil {
			return err
		}
	}
	if old, err := c.ListWorkspaces(ctx, org.ID, "default"); err == nil && len(old) == 1 {
		// Enrolled before, but the key was lost with up.json: enroll again.
		if err := c.DeleteWorkspace(ctx, old[0].ID); err != nil {
			return err
		}
	}
	ws, err := c.CreateWorkspace(ctx, org.ID, "default", true)
	if err != nil {
		return err
	}
	st.Organization.ID, st.Organization.Name = org.ID, org.Name
	st.Workspace.ID, st.Workspace.Name, st.Workspace.EnrollmentKey = ws.ID, ws.Name, ws.EnrollmentKey
	return nil
}

func loadUpState(path string) (upState, bool, error) {
	var st upState
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st.AdminPassword = auth.RandomSecret(12)
		st.JWTSecretKey = hex.EncodeToString([]byte(auth.RandomSecret(24)))
		st.EncryptionKey = hex.EncodeToString([]byte(auth.RandomSecret(24)))
		return st, true, saveUpState(path, st)
	case err != nil:
		return st, false, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, false, fmt.Errorf("%s is damaged (%v): move it away to start afresh", path, err)
	}
	if st.AdminPassword == "" || st.JWTSecretKey == "" || st.EncryptionKey == "" {
		return st, false, fmt.Errorf("%s lacks generated secrets: move it away to start afresh", path)
	}
	return st, false, nil
}

// saveUpState writes the state atomically with mode 0600.
func saveUpState(path string, st upState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
