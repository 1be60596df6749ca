package cli

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/enclave-mlops/enclave/internal/controlplane"
	"github.com/enclave-mlops/enclave/internal/workspace"
)

// migrateTargets are the stores `enclave migrate` knows, by name. Each
// reads its own environment and flags; a new server adds one line here.
var migrateTargets = map[string]func(cmd *cobra.Command, log *slog.Logger) error{
	"workspace":    migrateWorkspace,
	"controlplane": migrateControlPlane,
}

func newMigrateCmd() *cobra.Command {
	var names []string
	for n := range migrateTargets {
		names = append(names, n)
	}
	slices.Sort(names)
	cmd := &cobra.Command{
		Use:   "migrate {" + strings.Join(names, "|") + "}",
		Short: "Bring a server's database schema up to this binary's version",
		Long: `Bring a server's database schema up to this binary's version, backing the
data up first as ZENML_STORE_BACKUP_STRATEGY says, and restoring it if a step
fails. Run it before starting a newer version (the Helm charts run it as a
pre-upgrade hook).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, ok := migrateTargets[args[0]]
			if !ok {
				return fmt.Errorf("unknown target %q (want one of %s)", args[0], strings.Join(names, ", "))
			}
			log, err := logger(cmd)
			if err != nil {
				return err
			}
			return run(cmd, log)
		},
	}
	cmd.Flags().String("database", "", "store URL, overriding the target's environment (ZENML_STORE_URL for workspace, ENCLAVE_DATABASE_URL for controlplane)")
	return cmd
}

func migrateWorkspace(cmd *cobra.Command, log *slog.Logger) error {
	database, _ := cmd.Flags().GetString("database")
	cfg, err := workspaceConfig(cmd, "", database)
	if err != nil {
		return err
	}
	if err := workspace.Migrate(cmd.Context(), cfg, log); err != nil {
		return err
	}
	log.Info("workspace store is up to date")
	return nil
}

func migrateControlPlane(cmd *cobra.Command, log *slog.Logger) error {
	cfg, err := controlplane.LoadConfig(os.Getenv)
	if err != nil {
		return err
	}
	if database, _ := cmd.Flags().GetString("database"); database != "" {
		cfg.DatabaseURL = database
	}
	if cfg.DatabaseURL == "" {
		return fmt.Errorf("no database: set ENCLAVE_DATABASE_URL (or ENCLAVE_DATABASE_HOST and friends) or --database")
	}
	n, err := controlplane.Migrate(cmd.Context(), cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	log.Info("control plane store is up to date", "applied", n)
	return nil
}
