package charts_test

import (
	"strings"
	"testing"
)

// schemaCase is a values file with one mistake and what helm must say about it.
type schemaCase struct {
	name, chart, values string
	want                []string
}

var schemaCases = []schemaCase{
	{"misspelt key", workspaceChart, "zenml:\n  databse:\n    url: mysql://u:p@h:3306/db\n",
		[]string{"/zenml", "'databse'"}},
	{"misspelt nested key", workspaceChart, "zenml:\n  ingress:\n    enabled: true\n    tls:\n      secretname: zenml-tls\n",
		[]string{"/zenml/ingress/tls", "'secretname'"}},
	{"misspelt top-level key", workspaceChart, "podSecurityContexts:\n  runAsUser: 1000\n",
		[]string{"'podSecurityContexts'"}},
	{"misspelt pro key", workspaceChart, "zenml:\n  pro:\n    enabeld: true\n",
		[]string{"/zenml/pro", "'enabeld'"}},
	{"replicas as a string", workspaceChart, "zenml:\n  replicaCount: \"2\"\n",
		[]string{"/zenml/replicaCount", "want integer"}},
	{"unquoted numeric tag", workspaceChart, "zenml:\n  image:\n    tag: 0.80\n",
		[]string{"/zenml/image/tag", "want string"}},
	{"port as a string", workspaceChart, "zenml:\n  database:\n    external:\n      port: \"3306\"\n",
		[]string{"/zenml/database/external/port"}},
	{"unknown backup strategy", workspaceChart, "zenml:\n  database:\n    backupStrategy: nightly\n",
		[]string{"/zenml/database/backupStrategy"}},
	{"workspace keys in the control plane", controlplaneChart, "zenml:\n  pro:\n    enabled: true\n",
		[]string{"/zenml", "'pro'"}},
	{"misspelt auth key", controlplaneChart, "zenml:\n  auth:\n    pasword: secret\n",
		[]string{"/zenml/auth", "'pasword'"}},
	{"single image in the control plane", controlplaneChart, "zenml:\n  image:\n    repository: r/x\n",
		[]string{"/zenml/image", "'repository'"}},
	{"misspelt security context", controlplaneChart, "securityContext:\n  readOnlyRootFileSystem: true\n",
		[]string{"/securityContext", "'readOnlyRootFileSystem'"}},
}

func TestSchemaRejectsTypos(t *testing.T) {
	h := newHelm(t, "")
	for _, tc := range schemaCases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.run("template", "x", tc.chart, "--values", writeFile(t, "values.yaml", tc.values))
			if err == nil {
				t.Fatalf("helm template accepted:\n%s\nand rendered %d bytes", tc.values, len(out))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not name %s:\n%v", w, err)
				}
			}
		})
	}
}
