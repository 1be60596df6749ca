// Package archtest fences the architecture: it fails when an import arrow
// appears that docs/architecture.md says must never exist.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/enclave-mlops/enclave/"

// forbidden maps a package (and its sub-packages) to the packages it must not
// reach, directly or through others.
var forbidden = map[string][]string{
	"internal/controlplane": {"internal/workspace", "internal/dashboard", "internal/cli"},
	"internal/workspace":    {"internal/controlplane", "internal/dashboard", "internal/cli"},
	"internal/rbac":         {"internal/controlplane", "internal/workspace", "internal/httpapi", "internal/sqldb", "net/http"},
	"internal/auth":         {"internal/controlplane", "internal/workspace", "internal/httpapi", "net/http"},
	"internal/sqldb":        {"internal/controlplane", "internal/workspace", "internal/httpapi", "net/http"},
	"internal/errs":         {"internal/"},
	"internal/httpapi":      {"internal/controlplane", "internal/workspace", "internal/sqldb"},
	"internal/bundle":       {"internal/controlplane", "internal/workspace"},
	"internal/runner":       {"internal/controlplane", "internal/workspace"},
	"internal/enroll":       {"internal/controlplane", "internal/workspace"},
	"internal/doctor":       {"internal/controlplane", "internal/workspace"},
	"internal/dashboard":    {"internal/controlplane", "internal/workspace", "internal/sqldb"},
	"internal/kubejob":      {"internal/controlplane", "internal/workspace", "internal/sqldb"},
	"client":                {"internal/"},
	"internal/procgroup":    {"internal/"},
}

func TestFences(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg := strings.TrimPrefix(fields[0], mod)
		for owner, bans := range forbidden {
			if pkg != owner && !strings.HasPrefix(pkg, owner+"/") {
				continue
			}
			checked++
			for _, dep := range fields[1:] {
				rel := strings.TrimPrefix(dep, mod)
				for _, ban := range bans {
					own := rel == pkg || strings.HasPrefix(rel, owner+"/") || rel == owner
					if !own && (rel == ban || strings.HasPrefix(rel, ban+"/") || (strings.HasSuffix(ban, "/") && strings.HasPrefix(rel, ban) && dep != rel)) {
						t.Errorf("%s reaches %s, which docs/architecture.md forbids", pkg, dep)
					}
				}
			}
		}
	}
	if checked < 5 {
		t.Fatalf("only %d packages checked: is go list reading the module?", checked)
	}
}
