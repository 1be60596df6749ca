package cli

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/runner"
)

func newPipelineRunSnapshotCmd() *cobra.Command {
	var snapshotID, runID, artifacts string
	cmd := &cobra.Command{
		Use:   "run-snapshot",
		Short: "Run a snapshot into a run the workspace server created (the workload manager's Jobs)",
		Long: `Run the steps of a snapshot recorded by 'enclave pipeline run' into an existing
run that waits to start (status initializing), and record them as 'pipeline run'
does. The workspace server's workload manager starts this command in a Kubernetes
Job when a snapshot is run from the dashboard or the API, with:

  ZENML_STORE_URL         the workspace server's URL
  ZENML_STORE_TYPE        rest
  ZENML_STORE_API_TOKEN   a token good only for this run, until it ends
  ENCLAVE_SNAPSHOT_ID     the snapshot (--snapshot)
  ENCLAVE_RUN_ID          the run to fill (--run)

When the snapshot cannot be run, the run is marked failed with the reason in
its log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			url, token := os.Getenv("ZENML_STORE_URL"), os.Getenv("ZENML_STORE_API_TOKEN")
			switch {
			case url == "" || token == "":
				return errors.New("ZENML_STORE_URL and ZENML_STORE_API_TOKEN must name the workspace server and a token for it")
			case os.Getenv("ZENML_STORE_TYPE") != "" && os.Getenv("ZENML_STORE_TYPE") != "rest":
				return fmt.Errorf("ZENML_STORE_TYPE is %q: the runner speaks only to a workspace server (rest)", os.Getenv("ZENML_STORE_TYPE"))
			case snapshotID == "" || runID == "":
				return errors.New("--snapshot and --run (ENCLAVE_SNAPSHOT_ID, ENCLAVE_RUN_ID) are required")
			}
			ctx := cmd.Context()
			ws := client.NewWorkspace(url, token, &http.Client{Timeout: 60 * time.Second})
			abs, err := filepath.Abs(artifacts)
			if err != nil {
				return err
			}
			sn, err := ws.GetSnapshot(ctx, snapshotID, true)
			if err != nil {
				return fmt.Errorf("read snapshot %s: %w", snapshotID, err)
			}
			spec, err := runner.FromSnapshot(sn)
			if err != nil {
				// The run would otherwise wait to start until the server
				// notices its Job has ended; say why right away.
				failRun(cmd, ws, runID, err)
				return err
			}
			r := &runner.Runner{WS: ws, ArtifactDir: abs, Out: cmd.OutOrStdout()}
			res, err := r.RunInto(ctx, spec, runID)
			if err != nil {
				return err
			}
			if !res.Succeeded() {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&snapshotID, "snapshot", os.Getenv("ENCLAVE_SNAPSHOT_ID"), "id of the snapshot to run (ENCLAVE_SNAPSHOT_ID)")
	f.StringVar(&runID, "run", os.Getenv("ENCLAVE_RUN_ID"), "id of the run to fill (ENCLAVE_RUN_ID)")
	f.StringVar(&artifacts, "artifact-store", envOr("ENCLAVE_ARTIFACT_STORE", filepath.Join(os.TempDir(), "enclave-artifacts")),
		"folder of the local artifact store (ENCLAVE_ARTIFACT_STORE)")
	return cmd
}

// failRun marks a run that could not start as failed, its log saying why.
func failRun(cmd *cobra.Command, ws *client.Workspace, runID string, cause error) {
	ctx := cmd.Context()
	failed := client.StatusFailed
	err := ws.AppendRunLogs(ctx, runID, "runner: "+cause.Error()+"\n")
	if err == nil {
		_, err = ws.UpdateRun(ctx, runID, client.RunUpdate{Status: &failed})
	}
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "enclave: could not mark run %s failed: %v\n", runID, err)
	}
}
