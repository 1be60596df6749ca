package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/enclave-mlops/enclave/internal/ociimage"
	"github.com/enclave-mlops/enclave/internal/version"
)

func newImageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build Enclave's own container image",
	}
	cmd.AddCommand(newImageBuildCmd())
	return cmd
}

func newImageBuildCmd() *cobra.Command {
	var (
		opts                    ociimage.Options
		layoutDir, tag, pushRef string
		created                 string
		reg                     registryFlags
	)
	cmd := &cobra.Command{
		Use:   "build [--binary PATH] (--oci-layout DIR | --push REF)",
		Short: "Build the OCI image of a static enclave binary, without Docker",
		Long: `Builds an image holding only the binary (as /enclave, owned by 1000:1000),
/etc/passwd, /etc/group, the CA bundle if the host has one, and /tmp; it runs
as user 1000 and needs no shell. Times come from --created, else
SOURCE_DATE_EPOCH, else the Unix epoch, so the same binary gives the same
digest.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (layoutDir == "") == (pushRef == "") {
				return errors.New("give exactly one of --oci-layout DIR and --push REF")
			}
			if opts.Binary == "" {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				opts.Binary = exe
			}
			t, err := createdTime(created)
			if err != nil {
				return err
			}
			opts.Created = t
			img, err := ociimage.Build(opts)
			if err != nil {
				return err
			}
			digest, err := img.Digest()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if layoutDir != "" {
				if err := ociimage.WriteLayout(img, layoutDir, tag); err != nil {
					return err
				}
				fmt.Fprintf(w, "wrote %s as %s to OCI layout %s\n", digest, tag, layoutDir)
				return nil
			}
			ropts, err := reg.resolve(cmd)
			if err != nil {
				return err
			}
			remoteOpts, nameOpts, err := ropts.RemoteOptions()
			if err != nil {
				return err
			}
			ref, err := name.ParseReference(pushRef, nameOpts...)
			if err != nil {
				return err
			}
			if err := ociimage.Push(cmd.Context(), img, ref, remoteOpts...); err != nil {
				return err
			}
			fmt.Fprintf(w, "pushed %s@%s\n", ref, digest)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Binary, "binary", "", "static enclave binary (default: this executable)")
	f.StringVar(&layoutDir, "oci-layout", "", "write the image into this OCI layout folder")
	f.StringVar(&tag, "tag", "enclave-mlops/enclave:"+version.Version, "name of the image in the layout")
	f.StringVar(&pushRef, "push", "", "push the image to this reference")
	f.StringVar(&opts.Version, "version", version.Version, "org.opencontainers.image.version")
	f.StringVar(&opts.Revision, "revision", version.Commit(), "org.opencontainers.image.revision")
	f.StringVar(&opts.Source, "source", "https://github.com/enclave-mlops/enclave", "org.opencontainers.image.source")
	f.StringVar(&created, "created", "", "image time, RFC 3339 (default: SOURCE_DATE_EPOCH, else the Unix epoch)")
	f.StringVar(&opts.CABundle, "ca-bundle", "", "CA bundle to include (default: "+ociimage.DefaultCABundle+" if present; - for none)")
	reg.add(cmd)
	return cmd
}

func createdTime(s string) (time.Time, error) {
	if s != "" {
		return time.Parse(time.RFC3339, s)
	}
	if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, nil
}
