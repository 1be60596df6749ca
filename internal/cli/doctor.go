package cli

import (
	"errors"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/enclave-mlops/enclave/internal/doctor"
)

func newDoctorCmd() *cobra.Command {
	var cfg doctor.Config
	var passwordFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a deployment: DNS, TLS, health, enrollment and version skew",
		Long: `Check a control plane and its workspace servers from this machine: each host
resolves, accepts connections and (for https) shows a certificate chain that is
valid, trusted by --ca-file (or the system's roots) and not about to expire; each
server answers /health; with credentials, every workspace the control plane
knows is enrolled and reporting; every workspace server is enrolled in it and
not newer than it.

One line per check: ok, warn, FAIL or skip. The exit code is 1 when a check
failed; warnings do not fail.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if passwordFile != "" {
				pw, err := readPasswordFile(passwordFile)
				if err != nil {
					return err
				}
				cfg.Password = pw
			} else {
				cfg.Password = os.Getenv("ENCLAVE_PASSWORD")
			}
			if !cmd.Flags().Changed("username") && cfg.Password == "" {
				cfg.Username = "" // no credentials: skip the enrollment checks
			}
			if cfg.Username != "" && cfg.Password == "" {
				return errors.New("--username needs --password-file or ENCLAVE_PASSWORD")
			}
			rep, err := doctor.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				err = rep.WriteJSON(out)
			} else {
				err = rep.WriteText(out)
			}
			if err != nil {
				return err
			}
			if !rep.OK {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.ControlPlane, "controlplane", "", "the control plane's URL, e.g. https://enclave.example.com")
	f.StringArrayVar(&cfg.Workspaces, "workspace", nil, "a workspace server's URL (repeat for several)")
	f.StringVar(&cfg.CAFile, "ca-file", "", "PEM file of the internal CA to verify certificates against (default: the system's roots)")
	f.StringVar(&cfg.Username, "username", "admin", "control plane account for the enrollment checks")
	f.StringVar(&passwordFile, "password-file", "", "file holding that account's password (or set ENCLAVE_PASSWORD)")
	f.IntVar(&cfg.WarnDays, "warn-days", 30, "warn when a certificate expires within this many days")
	f.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "how long each network step may take")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	_ = cmd.MarkFlagRequired("controlplane")
	return cmd
}
