package cli

import (
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/enclave-mlops/enclave/internal/workspace"
)

func newWorkspaceCmd() *cobra.Command {
	var listen, database, debugListen string
	cmd := &cobra.Command{
		Use:   "workspace",
		Short: "Run a workspace server",
		Long: `Run a workspace server: the ML metadata API of one workspace.

It reads the environment of the original server (ZENML_STORE_URL,
ZENML_SERVER_URL, ZENML_SERVER_DEPLOYMENT_TYPE=cloud for pro mode,
ZENML_SERVER_PRO_*, ZENML_SERVER_JWT_SECRET_KEY, ZENML_SECRETS_STORE_*,
ZENML_STORE_BACKUP_STRATEGY, ...) and ENCLAVE_LISTEN, ENCLAVE_DATA_DIR,
ENCLAVE_RBAC_CACHE_TTL. Every variable NAME may be given as a file in
NAME_FILE. Flags override the environment. See docs/workspace.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logger(cmd)
			if err != nil {
				return err
			}
			tuneGC()
			cfg, err := workspaceConfig(cmd, listen, database)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			srv, err := workspace.New(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer srv.Close()
			if err := serveDebug(ctx, log, debugListen); err != nil {
				return err
			}
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
			}
			return srv.Run(ctx, ln)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to serve on (ENCLAVE_LISTEN, default :8080)")
	cmd.Flags().StringVar(&debugListen, "debug-listen", "", debugListenHelp)
	cmd.Flags().StringVar(&database, "database", "", "store URL (ZENML_STORE_URL): sqlite:////path.db, postgresql://..., mysql://...")
	return cmd
}

// workspaceConfig reads the environment, lets flags override it, and checks
// the result again.
func workspaceConfig(cmd *cobra.Command, listen, database string) (workspace.Config, error) {
	getenv := os.Getenv
	if database != "" || listen != "" {
		getenv = func(name string) string {
			switch {
			case name == "ZENML_STORE_URL" && database != "":
				return database
			case name == "ENCLAVE_LISTEN" && listen != "":
				return listen
			case (name == "ZENML_STORE_URL_FILE" && database != "") || (name == "ENCLAVE_LISTEN_FILE" && listen != ""):
				return ""
			}
			return os.Getenv(name)
		}
	}
	return workspace.LoadConfig(getenv)
}
