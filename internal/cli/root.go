// Package cli holds the enclave command line: one file per command, each a thin
// layer that parses flags and hands over to the package that does the work.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Main runs the command line and returns the process exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(os.Stdin, os.Stdout, os.Stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		fmt.Fprintln(os.Stderr, "enclave:", err)
		return 1
	}
	return 0
}

// exitError ends the program with a chosen code after the command has already
// said what went wrong.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCmd(in io.Reader, out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "enclave",
		Short:         "Self-hosted, air-gappable MLOps control plane and workspace servers",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	root.PersistentFlags().String("log-level", envOr("ENCLAVE_LOG_LEVEL", "info"), "log level: debug, info, warn or error")
	root.PersistentFlags().String("log-format", envOr("ENCLAVE_LOG_FORMAT", "text"), "log format: text or json")
	root.AddCommand(
		newBundleCmd(),
		newImageCmd(),
		newControlPlaneCmd(),
		newUpCmd(),
		newPipelineCmd(),
		newBackupCmd(),
		newRestoreCmd(),
		newVersionCmd(),
		newWorkspaceCmd(), newMigrateCmd(),
		newEnrollCmd(), newDoctorCmd(),
	)
	return root
}

// logger builds the process logger from the persistent flags.
func logger(cmd *cobra.Command) (*slog.Logger, error) {
	levelName, _ := cmd.Flags().GetString("log-level")
	format, _ := cmd.Flags().GetString("log-format")
	var level slog.Level
	if err := level.UnmarshalText([]byte(levelName)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
