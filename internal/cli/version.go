package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/enclave-mlops/enclave/internal/version"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "enclave %s (%s)\n", version.Version, version.Commit())
			return nil
		},
	}
}
