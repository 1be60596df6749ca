package workspace

import (
	"slices"

	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// Schema describes the workspace store for `enclave backup` and `enclave restore`.
func Schema() sqldb.Schema {
	return sqldb.Schema{Name: "workspace", VersionTable: versionTable, Tables: slices.Clone(storeTables), Migrations: migrations}
}
