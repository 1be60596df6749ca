package cli

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/enclave-mlops/enclave/internal/controlplane"
	"github.com/enclave-mlops/enclave/internal/sqldb"
	"github.com/enclave-mlops/enclave/internal/workspace"
)

// backupTarget is a store `enclave backup` knows: its schema and where its
// database URL comes from when --database is not given.
type backupTarget struct {
	schema func() sqldb.Schema
	env    string
}

var backupTargets = map[string]backupTarget{
	"controlplane": {controlplane.Schema, "ENCLAVE_DATABASE_URL"},
	"workspace":    {workspace.Schema, "ZENML_STORE_URL"},
}

func targetDatabase(cmd *cobra.Command, name string) (backupTarget, string, error) {
	t, ok := backupTargets[name]
	if !ok {
		return t, "", fmt.Errorf("unknown store %q (want controlplane or workspace)", name)
	}
	url, _ := cmd.Flags().GetString("database")
	if url == "" {
		url = os.Getenv(t.env)
	}
	if url == "" {
		return t, "", fmt.Errorf("no database: give --database or set %s", t.env)
	}
	return t, url, nil
}

func newBackupCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "backup {controlplane|workspace} -o FILE",
		Short: "Write every row of a server's store to a file, from one consistent snapshot",
		Long: `Write every row of a server's store to a file (JSON lines; gzip when FILE ends in .gz)
from one consistent snapshot, while the server runs. The file restores into any of
the three databases, so it also moves a store from SQLite to PostgreSQL or MySQL.

The file holds password hashes, key hashes and the token signing key: it is written
with mode 0600; keep it as carefully as the database itself.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, url, err := targetDatabase(cmd, args[0])
			if err != nil {
				return err
			}
			if output == "" {
				return fmt.Errorf("-o FILE is required (- for standard output)")
			}
			db, err := sqldb.Open(cmd.Context(), url, sqldb.Options{MaxOpen: 2})
			if err != nil {
				return err
			}
			defer db.Close()
			if output == "-" {
				_, err := db.Dump(cmd.Context(), t.schema(), cmd.OutOrStdout())
				return err
			}
			return writeAtomically(output, func(w io.Writer) error {
				n, err := db.Dump(cmd.Context(), t.schema(), w)
				if err == nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "backed up %d rows of the %s store to %s\n", n, args[0], output)
				}
				return err
			})
		},
	}
	cmd.Flags().String("database", "", "database URL (default: ENCLAVE_DATABASE_URL or ZENML_STORE_URL)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write; .gz compresses; - writes to standard output")
	return cmd
}

// writeAtomically writes a file through a temporary one, so that a failed
// backup never leaves a partial file under the asked name.
func writeAtomically(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	var w io.Writer = tmp
	var gz *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		gz = gzip.NewWriter(tmp)
		w = gz
	}
	err = write(w)
	if gz != nil && err == nil {
		err = gz.Close()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func newRestoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore {controlplane|workspace} FILE",
		Short: "Fill a new, empty database from a backup, then migrate it",
		Long: `Fill a new, empty database from a file written by 'enclave backup' (from any of the
three databases), then bring its schema up to this binary's version. Nothing is
written when the file is truncated, altered or of another store.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, url, err := targetDatabase(cmd, args[0])
			if err != nil {
				return err
			}
			f, err := os.Open(args[1])
			if err != nil {
				return err
			}
			defer f.Close()
			br := bufio.NewReader(f)
			if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
				gz, err := gzip.NewReader(br)
				if err != nil {
					return err
				}
				br = bufio.NewReader(gz)
			}
			// A file that is no dump of this store is refused before the
			// database is opened (which creates a SQLite file).
			if err := sqldb.CheckDumpHeader(br, t.schema()); err != nil {
				return err
			}
			db, err := sqldb.Open(cmd.Context(), url, sqldb.Options{MaxOpen: 2})
			if err != nil {
				return err
			}
			defer db.Close()
			n, err := db.Restore(cmd.Context(), t.schema(), br)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "restored %d rows into the %s store\n", n, args[0])
			return nil
		},
	}
	cmd.Flags().String("database", "", "database URL of the new, empty store (default: ENCLAVE_DATABASE_URL or ZENML_STORE_URL)")
	return cmd
}
