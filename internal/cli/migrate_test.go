package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/internal/sqldb"
)

func TestMigrateControlPlane(t *testing.T) {
	url := "sqlite:///" + filepath.Join(t.TempDir(), "cp.db")
	for i := 0; i < 2; i++ { // the second run finds nothing to do
		var out bytes.Buffer
		root := newRootCmd(strings.NewReader(""), &out, &out)
		root.SetArgs([]string{"migrate", "controlplane", "--database", url})
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out.String())
		}
	}
	db, err := sqldb.Open(context.Background(), url, sqldb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.Version(context.Background(), "cp_schema_migrations"); err != nil || v < 1 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	var out bytes.Buffer
	root := newRootCmd(strings.NewReader(""), &out, &out)
	root.SetArgs([]string{"migrate", "nothing"})
	if err := root.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "controlplane") {
		t.Fatalf("unknown target: %v", err)
	}
}
