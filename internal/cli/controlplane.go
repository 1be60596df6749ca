package cli

import (
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/enclave-mlops/enclave/internal/controlplane"
	"github.com/enclave-mlops/enclave/internal/dashboard"
)

func newControlPlaneCmd() *cobra.Command {
	var listen, database, serverURL, adminUser, adminPassword, adminPasswordFile, debugListen string
	cmd := &cobra.Command{
		Use:   "controlplane",
		Short: "Run the control plane server",
		Long: `Run the control plane: login, users, organizations, teams, roles, workspaces and
their enrollment, and the RBAC decisions that workspace servers ask for.

Configuration comes from the environment (ENCLAVE_LISTEN, ENCLAVE_DATABASE_URL or
ENCLAVE_DATABASE_TYPE/HOST/PORT/USERNAME/PASSWORD/NAME, ENCLAVE_SERVER_URL,
ENCLAVE_ADMIN_USERNAME, ENCLAVE_ADMIN_PASSWORD; *_FILE variants for secrets);
flags override it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logger(cmd)
			if err != nil {
				return err
			}
			cfg, err := controlplane.LoadConfig(os.Getenv)
			if err != nil {
				return err
			}
			flags := cmd.Flags()
			if flags.Changed("listen") {
				cfg.Listen = listen
			}
			if flags.Changed("database") {
				cfg.DatabaseURL = database
			}
			if cfg.DatabaseURL == "" {
				cfg.DatabaseURL = "sqlite:///enclave-controlplane.db"
			}
			if flags.Changed("server-url") {
				cfg.ServerURL = serverURL
			}
			if flags.Changed("admin-username") {
				cfg.AdminUsername = adminUser
			}
			if flags.Changed("admin-password") {
				cfg.AdminPassword = adminPassword
			}
			if adminPasswordFile != "" {
				b, err := os.ReadFile(adminPasswordFile)
				if err != nil {
					return err
				}
				cfg.AdminPassword = trimNewline(string(b))
			}
			tuneGC()
			srv, err := controlplane.New(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer srv.Close()
			ui, err := dashboard.New(dashboard.Options{ControlPlane: srv.Handler(), PublicURL: cfg.ServerURL, Log: log.With("server", "dashboard")})
			if err != nil {
				return err
			}
			ui.Routes(srv.Mount)
			if err := serveDebug(cmd.Context(), log, debugListen); err != nil {
				return err
			}
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return err
			}
			return srv.Run(cmd.Context(), ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", ":8080", "address to listen on (ENCLAVE_LISTEN)")
	f.StringVar(&debugListen, "debug-listen", "", debugListenHelp)
	f.StringVar(&database, "database", "", "database URL: sqlite:///file.db, postgresql://..., mysql://... (ENCLAVE_DATABASE_URL)")
	f.StringVar(&serverURL, "server-url", "", "public URL of the control plane (ENCLAVE_SERVER_URL)")
	f.StringVar(&adminUser, "admin-username", "admin", "username of the first administrator (ENCLAVE_ADMIN_USERNAME)")
	f.StringVar(&adminPassword, "admin-password", "", "the administrator's password; prefer the file or the environment, which ps cannot show")
	f.StringVar(&adminPasswordFile, "admin-password-file", "", "file holding the administrator's password (ENCLAVE_ADMIN_PASSWORD[_FILE])")
	return cmd
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
