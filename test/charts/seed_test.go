package charts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// The seed's example values files, copied as printed with the placeholders filled.
const (
	seedControlplaneValues = "testdata/seed-controlplane-values.yaml"
	seedWorkspaceValues    = "testdata/seed-workspace-values.yaml"
)

// What the enrolled values file is generated with.
const (
	enrolledProURL     = "https://enclave.internal.mycompany.com"
	enrolledOrgID      = "0c5e2f1a-6b7d-4e8f-9a0b-1c2d3e4f5a6b"
	enrolledOrgName    = "acme-research"
	enrolledWSID       = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
	enrolledWSName     = "zenml-1a2b3c4d"
	enrolledKey        = "enrollment-key-from-the-control-plane"
	enrolledRepository = "internal-registry.mycompany.com/enclave/enclave"
)

// seedDir is where the seed's files are: next to the repository, as the project's
// shared folder holds them, or ENCLAVE_SEED_DIR.
func seedDir() string {
	if d := os.Getenv("ENCLAVE_SEED_DIR"); d != "" {
		return d
	}
	return "../../../shared/seed"
}

// enrolledValues writes the values file that the seed's enroll-workspace.py
// writes, by calling its get_workspace_config with python3, and returns its path
// and parsed content.
func enrolledValues(t *testing.T) (string, map[string]any) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join(seedDir(), "enroll-workspace.py"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(script); err != nil {
		if requireServices() {
			t.Fatalf("the seed's enrollment script is missing: %v", err)
		}
		t.Skipf("the seed's enrollment script is missing (set ENCLAVE_SEED_DIR): %v", err)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	const call = `import importlib.util, sys
spec = importlib.util.spec_from_file_location("enroll_workspace", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
sys.stdout.write(mod.get_workspace_config(
    zenml_pro_url=sys.argv[2], organization_id=sys.argv[3], organization_name=sys.argv[4],
    workspace_id=sys.argv[5], workspace_name=sys.argv[6], enrollment_key=sys.argv[7],
    repository=sys.argv[8]))
`
	cmd := exec.Command(py, "-c", call, script, enrolledProURL, enrolledOrgID, enrolledOrgName,
		enrolledWSID, enrolledWSName, enrolledKey, enrolledRepository)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("get_workspace_config: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("get_workspace_config: %v", err)
	}
	var parsed map[string]any
	if err := yaml.Unmarshal(out, &parsed); err != nil {
		t.Fatalf("the enrolled values are not YAML: %v\n%s", err, out)
	}
	return writeFile(t, "zenml-"+enrolledWSName+"-values.yaml", string(out)), parsed
}

// lookup walks a parsed YAML document by keys.
func lookup(t *testing.T, doc map[string]any, keys ...string) any {
	t.Helper()
	var cur any = doc
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("no %v in the values", keys)
		}
		cur = m[k]
	}
	return cur
}
