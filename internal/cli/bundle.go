package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/enclave-mlops/enclave/internal/bundle"
	"github.com/enclave-mlops/enclave/internal/version"
)

func newBundleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Carry images and Helm charts into an air-gapped network, without Docker",
	}
	cmd.AddCommand(newBundleCreateCmd(), newBundleInspectCmd(), newBundleVerifyCmd(), newBundlePushCmd())
	return cmd
}

// registryFlags are shared by create (source registries) and push.
type registryFlags struct {
	opts          bundle.RegistryOptions
	passwordStdin bool
}

func (r *registryFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.opts.CAFile, "ca-file", "", "PEM file of a CA to trust besides the system's (SSL_CERT_FILE also works)")
	f.StringVar(&r.opts.Username, "username", "", "registry user (default: ENCLAVE_REGISTRY_USERNAME, then the Docker config)")
	f.StringVar(&r.opts.Password, "password", "", "registry password (prefer --password-stdin or ENCLAVE_REGISTRY_PASSWORD)")
	f.BoolVar(&r.passwordStdin, "password-stdin", false, "read the registry password from standard input")
	f.BoolVar(&r.opts.PlainHTTP, "plain-http", false, "talk plain HTTP to the registry")
}

func (r *registryFlags) resolve(cmd *cobra.Command) (bundle.RegistryOptions, error) {
	if r.passwordStdin {
		b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
		if err != nil {
			return r.opts, err
		}
		r.opts.Password = strings.TrimRight(string(b), "\r\n")
	}
	return r.opts, nil
}

func progressFor(cmd *cobra.Command) *bundle.Progress {
	w := cmd.ErrOrStderr()
	f, ok := w.(*os.File)
	return bundle.NewProgress(w, ok && term.IsTerminal(int(f.Fd())))
}

func newBundleCreateCmd() *cobra.Command {
	var (
		file, out, registry, name, split, helm string
		images, charts, platforms, values      []string
		layouts                                []string
		compress                               bool
		jobs                                   int
		reg                                    registryFlags
	)
	cmd := &cobra.Command{
		Use:   "create -f bundle.yaml -o FILE | --image REF... --chart REF... -o FILE",
		Short: "Make one bundle file from images and charts",
		Long: `Resolves every image to a digest, renders each chart to find the images it
needs, and writes one tar holding a single OCI image layout (shared blobs
stored once), enclave-bundle.json, manifest.txt and checksums.sha256, plus
FILE.sha256 with a checksum of each physical file.

--chart takes oci://HOST/PATH/NAME:VERSION, a chart folder or a .tgz.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec := &bundle.Spec{}
			if file != "" {
				s, err := bundle.LoadSpec(file)
				if err != nil {
					return err
				}
				spec = s
			}
			for _, im := range images {
				spec.Images = append(spec.Images, bundle.ImageSpec{Ref: im})
			}
			for _, dir := range layouts {
				ims, err := bundle.LayoutImages(dir)
				if err != nil {
					return err
				}
				spec.Images = append(spec.Images, ims...)
			}
			for _, c := range charts {
				spec.Charts = append(spec.Charts, bundle.ChartSpec{Ref: c, Values: values})
			}
			if registry != "" {
				spec.Registry = registry
			}
			if name != "" {
				spec.Name = name
			}
			spec.Platforms = append(spec.Platforms, platforms...)
			if out == "" {
				return errors.New("-o FILE is required")
			}
			partSize, err := parseSize(split)
			if err != nil {
				return fmt.Errorf("--split-size: %w", err)
			}
			ropts, err := reg.resolve(cmd)
			if err != nil {
				return err
			}
			res, err := bundle.Create(cmd.Context(), spec, bundle.CreateOptions{
				Output: out, Compress: compress, PartSize: partSize, Jobs: jobs, Registry: ropts,
				Helm: helm, Progress: progressFor(cmd), Version: version.Version,
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d images, %d charts, %d blobs (%d bytes)\n", len(res.Manifest.Images), len(res.Manifest.Charts), res.Manifest.Blobs, res.Manifest.Size)
			for _, f := range res.Files {
				fmt.Fprintln(w, "wrote", f)
			}
			fmt.Fprintf(w, "bundle checksum sha256:%s\n", res.Aggregate)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "bundle.yaml describing images and charts")
	f.StringVarP(&out, "output", "o", "", "bundle file to write")
	f.StringArrayVar(&images, "image", nil, "image reference to add (repeatable)")
	f.StringArrayVar(&layouts, "from-layout", nil, "add every image of this OCI layout folder, e.g. from enclave image build (repeatable)")
	f.StringArrayVar(&charts, "chart", nil, "chart to add: oci://...:VERSION, folder or .tgz (repeatable)")
	f.StringArrayVar(&values, "values", nil, "values file for rendering the --chart charts (repeatable)")
	f.StringArrayVar(&platforms, "platform", nil, "keep only this platform of multi-platform images, os/arch[/variant] (repeatable; default: whole indexes)")
	f.StringVar(&registry, "registry", "", "internal registry HOST[/PREFIX] the bundle is meant for (recorded in it)")
	f.StringVar(&name, "name", "", "bundle name")
	f.BoolVar(&compress, "zstd", false, "compress with zstd (seekable: push still reads blobs in place)")
	f.StringVar(&split, "split-size", "", "split into parts of this size, e.g. 4G or 700M")
	f.IntVar(&jobs, "jobs", 4, "concurrent downloads")
	f.StringVar(&helm, "helm", "helm", "helm binary used to package and render charts")
	reg.add(cmd)
	return cmd
}

func newBundleInspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show what a bundle holds (checks its metadata, not every blob)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := bundle.Open(args[0])
			if err != nil {
				return err
			}
			defer b.Close()
			w := cmd.OutOrStdout()
			if asJSON {
				return printJSON(w, b.Manifest)
			}
			fmt.Fprint(w, b.Manifest.Text())
			fmt.Fprintf(w, "\n%d file(s), %d bytes on disk, bundle checksum sha256:%s\n", len(b.Parts), b.Size, b.Aggregate)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print enclave-bundle.json")
	return cmd
}

func newBundleVerifyCmd() *cobra.Command {
	var checksum string
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Read every byte of a bundle and refuse it if anything is missing, extra, truncated or altered",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := bundle.Verify(cmd.Context(), args[0], bundle.VerifyOptions{Aggregate: checksum, Progress: progressFor(cmd)})
			if err != nil {
				return err
			}
			defer b.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "OK: %d images, %d charts, bundle checksum sha256:%s\n",
				len(b.Manifest.Images), len(b.Manifest.Charts), b.Aggregate)
			return nil
		},
	}
	cmd.Flags().StringVar(&checksum, "checksum", "", "expected bundle checksum (sha256:...), as printed by create")
	return cmd
}

func newBundlePushCmd() *cobra.Command {
	var (
		registry, chunk, sep, valuesOut string
		rules                           []string
		opts                            bundle.PushOptions
		reg                             registryFlags
	)
	cmd := &cobra.Command{
		Use:   "push FILE --registry HOST[/PREFIX]",
		Short: "Push a bundle's images and charts into a registry, resuming where a broken push stopped",
		Long: `Checks first that the registry answers, its certificate is trusted, the
credentials are accepted and allow pushing; nothing is uploaded otherwise.
Blobs the registry holds are skipped, shared ones mounted across
repositories, and a journal next to the bundle lets a broken push resume.
Each source path is put under PREFIX; --map rewrites leading path parts
(Artifactory: --map library/=dockerhub/), --max-depth flattens deep paths
(GitLab: --max-depth 3).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if registry == "" {
				return errors.New("--registry HOST[/PREFIX] is required")
			}
			opts.Mapping.Registry, opts.Mapping.Separator = registry, sep
			for _, r := range rules {
				rule, err := bundle.ParseRule(r)
				if err != nil {
					return err
				}
				opts.Mapping.Rules = append(opts.Mapping.Rules, rule)
			}
			cs, err := parseSize(chunk)
			if err != nil {
				return fmt.Errorf("--chunk-size: %w", err)
			}
			opts.ChunkSize = cs
			if opts.Registry, err = reg.resolve(cmd); err != nil {
				return err
			}
			opts.Progress = progressFor(cmd)
			res, err := bundle.Push(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, it := range res.Items {
				fmt.Fprintf(w, "%s -> %s@%s\n", it.Source, it.Destination, it.Digest)
			}
			fmt.Fprintf(w, "blobs: %d uploaded (%d bytes, %d resumed), %d mounted, %d already present; %d of %d items already there\n",
				res.BlobsUploaded, res.BytesUploaded, res.BlobsResumed, res.BlobsMounted, res.BlobsPresent, res.ItemsSkipped, len(res.Items))
			fmt.Fprintln(w, "report:", res.ReportPath)
			if res.Values == "" {
				return nil
			}
			if valuesOut != "" {
				if err := os.WriteFile(valuesOut, []byte(res.Values), 0o644); err != nil {
					return err
				}
				fmt.Fprintln(w, "helm values:", valuesOut)
				return nil
			}
			fmt.Fprint(w, "\nHelm values for the internal registry:\n", res.Values)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&registry, "registry", "", "destination HOST[:PORT][/PREFIX], e.g. harbor.internal/enclave")
	f.StringArrayVar(&rules, "map", nil, "rewrite a leading source path part, FROM=TO (repeatable; first match wins)")
	f.IntVar(&opts.Mapping.MaxDepth, "max-depth", 0, "most path components after the host; deeper paths are joined")
	f.StringVar(&sep, "separator", "-", "joins path components flattened by --max-depth")
	f.IntVar(&opts.Jobs, "jobs", 4, "concurrent blob transfers")
	f.StringVar(&chunk, "chunk-size", "32M", "upload chunk size, the unit a broken push resumes from")
	f.StringVar(&opts.Journal, "journal", "", "push journal (default: next to the bundle)")
	f.StringVar(&opts.Report, "report", "", "push report, JSON (default: next to the journal)")
	f.StringVar(&valuesOut, "values-out", "", "write the Helm values to this file instead of printing them")
	reg.add(cmd)
	return cmd
}

// parseSize reads 1234, 700K, 700M, 4G (powers of 1024; an optional "iB"
// or "B" suffix is accepted). Empty is 0.
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(s), "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number with optional K, M, G or T", s)
	}
	return v * mult, nil
}
