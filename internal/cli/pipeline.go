package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/runner"
)

func newPipelineCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "pipeline", Short: "Run pipelines described in YAML"}
	cmd.AddCommand(newPipelineRunCmd(), newPipelineRunSnapshotCmd(), newPipelineRunsCmd())
	return cmd
}

func newPipelineRunCmd() *cobra.Command {
	var conn workspaceConn
	var artifacts string
	var noCache bool
	var parallel int
	cmd := &cobra.Command{
		Use:   "run FILE.yaml",
		Short: "Run a pipeline on this machine and record it in a workspace",
		Long: `Run the steps of a pipeline file on this machine, in dependency order, and record
the run, its steps, logs and output artifacts (with lineage) in a workspace.

` + workspaceConnHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			spec, err := runner.Parse(data)
			if err != nil {
				return err
			}
			ws, local, err := conn.connect(cmd.Context())
			if err != nil {
				return err
			}
			if artifacts == "" && local {
				artifacts = filepath.Join(conn.dataDir, "artifacts")
			}
			if artifacts == "" {
				artifacts = "enclave-artifacts"
			}
			abs, err := filepath.Abs(artifacts)
			if err != nil {
				return err
			}
			if parallel < 1 {
				return fmt.Errorf("--parallel must be at least 1, not %d", parallel)
			}
			r := &runner.Runner{WS: ws, ArtifactDir: abs, Out: cmd.OutOrStdout(), NoCache: noCache, Parallel: parallel}
			res, err := r.Run(cmd.Context(), spec)
			if err != nil {
				return err
			}
			if !res.Succeeded() {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	conn.register(cmd)
	cmd.Flags().StringVar(&artifacts, "artifact-store", "", "folder of the local artifact store (default: the data folder's, or ./enclave-artifacts)")
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "run every step, even those enable_cache would take from an earlier run")
	cmd.Flags().IntVar(&parallel, "parallel", 1, "steps to run at once, when the steps they depend on have ended")
	return cmd
}

const workspaceConnHelp = `Which workspace: --workspace URL with --token (or ENCLAVE_WORKSPACE_TOKEN), or with
--controlplane URL --username NAME and a password (--password-file or
ENCLAVE_PASSWORD) to log in through the control plane. Without flags, the
workspace that 'enclave up' runs from --data-dir is used.`

// workspaceConn is how a command reaches a workspace: its flags, and the
// login they call for.
type workspaceConn struct {
	wsURL, token, cpURL, username, passwordFile, dataDir string
}

func (c *workspaceConn) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.wsURL, "workspace", os.Getenv("ENCLAVE_WORKSPACE_URL"), "URL of the workspace server (ENCLAVE_WORKSPACE_URL)")
	f.StringVar(&c.token, "token", "", "workspace session token (ENCLAVE_WORKSPACE_TOKEN)")
	f.StringVar(&c.cpURL, "controlplane", os.Getenv("ENCLAVE_CONTROLPLANE_URL"), "URL of the control plane, to log in there (ENCLAVE_CONTROLPLANE_URL)")
	f.StringVar(&c.username, "username", os.Getenv("ENCLAVE_USERNAME"), "control-plane user (ENCLAVE_USERNAME)")
	f.StringVar(&c.passwordFile, "password-file", "", "file holding the password (or ENCLAVE_PASSWORD)")
	f.StringVar(&c.dataDir, "data-dir", ".enclave", "data folder of 'enclave up', used when no workspace is given")
}

// connect logs in at the workspace; local says it is the one of 'enclave up'
// in the data folder.
func (c *workspaceConn) connect(ctx context.Context) (ws *client.Workspace, local bool, err error) {
	hc := &http.Client{Timeout: 60 * time.Second}
	wsURL, token, cpURL, username := c.wsURL, c.token, c.cpURL, c.username
	password := os.Getenv("ENCLAVE_PASSWORD")
	if c.passwordFile != "" {
		b, err := os.ReadFile(c.passwordFile)
		if err != nil {
			return nil, false, err
		}
		password = trimNewline(string(b))
	}
	if token == "" {
		token = os.Getenv("ENCLAVE_WORKSPACE_TOKEN")
	}
	if wsURL == "" && token == "" && cpURL == "" {
		// The local system of `enclave up`.
		st, err := readUpState(c.dataDir)
		if err != nil {
			return nil, false, err
		}
		wsURL, cpURL, username, password, local = st.WorkspaceURL, st.ControlPlaneURL, "admin", st.AdminPassword, true
	}
	if wsURL == "" {
		return nil, false, errors.New("--workspace is required")
	}
	ws = client.NewWorkspace(wsURL, token, hc)
	if token == "" {
		if cpURL == "" || username == "" || password == "" {
			return nil, false, errors.New("give --token, or --controlplane, --username and a password (--password-file or ENCLAVE_PASSWORD)")
		}
		cp := client.NewControlPlane(cpURL, "", hc)
		if err := cp.Login(ctx, username, password); err != nil {
			return nil, false, fmt.Errorf("log in to the control plane: %w", err)
		}
		if _, err := ws.LoginExternal(ctx, cp.Token); err != nil {
			return nil, false, fmt.Errorf("log in to the workspace: %w", err)
		}
	}
	return ws, local, nil
}

func readUpState(dataDir string) (upState, error) {
	var st upState
	b, err := os.ReadFile(filepath.Join(dataDir, "up.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("no workspace given and no 'enclave up' data in %s: start 'enclave up' or pass --workspace", dataDir)
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s/up.json: %w", dataDir, err)
	}
	if st.WorkspaceURL == "" {
		return st, fmt.Errorf("%s/up.json names no workspace URL: start 'enclave up' once more", dataDir)
	}
	return st, nil
}
