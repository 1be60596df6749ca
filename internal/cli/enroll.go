package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/enclave-mlops/enclave/internal/enroll"
)

func newEnrollCmd() *cobra.Command {
	var o enroll.Options
	var passwordFile, caFile string
	var passwordStdin, nonInteractive bool
	cmd := &cobra.Command{
		Use:   "enroll",
		Short: "Enroll a workspace in a control plane and write its Helm values file",
		Long: `Log in to a control plane, pick or create an organization, enroll a workspace
and write a values file for the workspace chart (mode 0600) that holds its
enrollment key and a fresh secrets-store encryption key.

On a terminal, missing answers are asked for as enroll-workspace.py asks them.
Otherwise every answer comes from a flag, and a missing one is an error. The
password comes from --password-file, --password-stdin or ENCLAVE_PASSWORD.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("username") {
				o.Username = ""
			}
			in := cmd.InOrStdin()
			interactive := !nonInteractive && isTerminal(in)
			var err error
			switch {
			case passwordFile != "" && passwordStdin:
				return errors.New("give --password-file or --password-stdin, not both")
			case passwordFile != "":
				o.Password, err = readPasswordFile(passwordFile)
				o.PasswordGiven = true
			case passwordStdin:
				o.Password, err = readPasswordLine(in)
				o.PasswordGiven = true
				interactive = false // stdin is spent
			default:
				o.Password = os.Getenv("ENCLAVE_PASSWORD")
				o.PasswordGiven = o.Password != ""
			}
			if err != nil {
				return err
			}
			if o.HTTPClient, err = enroll.HTTPClient(caFile); err != nil {
				return err
			}
			var p *enroll.Prompter
			if interactive {
				fd := int(in.(*os.File).Fd())
				p = enroll.NewPrompter(in, cmd.OutOrStdout(), func(ctx context.Context, prompt func()) (string, error) {
					return readHidden(ctx, fd, prompt)
				})
			}
			_, err = enroll.Run(cmd.Context(), o, p, cmd.OutOrStdout())
			if errors.Is(err, context.Canceled) {
				fmt.Fprintln(cmd.OutOrStdout())
				return errors.New("interrupted")
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.URL, "url", "", "the control plane's URL, e.g. https://enclave.example.com")
	f.StringVar(&o.Username, "username", "admin", "the control plane account to log in with")
	f.StringVar(&passwordFile, "password-file", "", "read the password from this file (or set ENCLAVE_PASSWORD)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	f.StringVar(&o.Organization, "organization", "", "the organization's id or name")
	f.StringVar(&o.CreateOrganization, "create-organization", "", "create an organization of this name and enroll in it")
	f.StringVar(&o.Workspace, "workspace", "", "the workspace's name: lowercase letters, digits and hyphens")
	f.BoolVar(&o.Overwrite, "overwrite", false, "delete a workspace of the same name and enroll a new one")
	f.StringVar(&o.Output, "output", "", "the values file to write (default zenml-<workspace>-values.yaml)")
	f.StringVar(&o.DatabaseURL, "database-url", "", "the workspace's database, e.g. mysql://user:password@host:3306/zenml (default: SQLite in the pod)")
	f.StringVar(&o.ImageRepository, "image-repository", enroll.DefaultImageRepository, "the server image's repository, e.g. in an internal registry")
	f.StringVar(&o.ImageTag, "image-tag", "", "the server image's tag (default: the chart's appVersion)")
	f.StringVar(&o.ServerURL, "server-url", "", "the workspace's external URL")
	f.StringVar(&o.IngressHost, "ingress-host", "", "create an Ingress for this host")
	f.StringVar(&o.IngressClass, "ingress-class", "", "the Ingress's class, e.g. nginx")
	f.StringVar(&o.TLSSecret, "tls-secret", "", "serve the Ingress with TLS from this kubernetes.io/tls Secret")
	f.StringVar(&caFile, "ca-file", "", "PEM file of a CA to trust for the control plane's URL")
	f.BoolVar(&nonInteractive, "non-interactive", false, "never ask: fail when an answer is missing")
	return cmd
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--password-file: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("--password-file %s is empty", path)
	}
	return pw, nil
}

func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("--password-stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("--password-stdin: standard input held no password")
	}
	return pw, nil
}

// readHidden reads a password from the terminal fd. Echo goes off before the
// question shows, so that an answer typed ahead of it is not shown either.
// On Ctrl-C (ctx ends) it gives up and puts the terminal back as it was.
func readHidden(ctx context.Context, fd int, prompt func()) (string, error) {
	old, err := term.MakeRaw(fd)
	if err != nil {
		return "", err
	}
	defer term.Restore(fd, old)
	prompt()
	type read struct {
		b   []byte
		err error
	}
	ch := make(chan read, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		ch <- read{b, err}
	}()
	select {
	case r := <-ch:
		return string(r.b), r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
