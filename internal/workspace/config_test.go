package workspace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfig(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(secretFile, []byte("enrollment-key-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(envOf(map[string]string{
		"ZENML_STORE_URL":                            "mysql://zenml@db:3306/zenml",
		"ZENML_STORE_PASSWORD":                       "p@ss/word",
		"ZENML_SERVER_DEPLOYMENT_TYPE":               "cloud",
		"ZENML_SERVER_PRO_API_URL":                   "https://cp.example.com/api/v1/",
		"ZENML_SERVER_PRO_WORKSPACE_ID":              "0b7c5a6e-8d7f-4b1a-9a43-0a1b2c3d4e5f",
		"ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET_FILE": secretFile,
		"ZENML_SERVER_THREAD_POOL_SIZE":              "40",
		"ENCLAVE_RBAC_CACHE_TTL":                     "10s",
		"ZENML_SECRETS_STORE_ENCRYPTION_KEY":         "0123456789abcdef0123",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		StoreURL: "mysql://zenml:p%40ss%2Fword@db:3306/zenml", DeploymentType: "cloud", ThreadPool: 40,
		Pro: ProConfig{APIURL: "https://cp.example.com/api/v1", WorkspaceID: "0b7c5a6e-8d7f-4b1a-9a43-0a1b2c3d4e5f",
			ClientSecret: "enrollment-key-from-file", Audience: "https://cp.example.com/api/v1"},
		RBACCacheTTL: 10 * time.Second, RunTokenGrace: DefaultRunTokenGrace, SecretsStoreType: "sql", EncryptionKey: "0123456789abcdef0123",
		Listen: ":8080", DataDir: "enclave-data", BackupStrategy: BackupInMemory, DefaultUserName: "default",
	}
	if cfg != want {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
	if !cfg.ProMode() {
		t.Fatal("not pro mode")
	}
	if err := cfg.ValidateServe(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigChecks(t *testing.T) {
	base := map[string]string{"ZENML_STORE_URL": "sqlite:////tmp/x.db"}
	cases := []struct {
		name  string
		env   map[string]string
		serve bool
		want  string // a part of the message; "" for no error
	}{
		{"minimal", nil, true, ""},
		{"no store", map[string]string{"ZENML_STORE_URL": ""}, false, "ZENML_STORE_URL is required"},
		{"bad store", map[string]string{"ZENML_STORE_URL": "oracle://x/y"}, false, "not supported"},
		{"bad deployment type", map[string]string{"ZENML_SERVER_DEPLOYMENT_TYPE": "mainframe"}, false, "ZENML_SERVER_DEPLOYMENT_TYPE"},
		{"pro without api url", map[string]string{"ZENML_SERVER_DEPLOYMENT_TYPE": "cloud", "ZENML_SERVER_PRO_WORKSPACE_ID": "w1"}, false, "ZENML_SERVER_PRO_API_URL"},
		{"pro without workspace", map[string]string{"ZENML_SERVER_DEPLOYMENT_TYPE": "cloud", "ZENML_SERVER_PRO_API_URL": "https://cp/api/v1"}, false, "ZENML_SERVER_PRO_WORKSPACE_ID"},
		{"pro migration needs no key", map[string]string{"ZENML_SERVER_DEPLOYMENT_TYPE": "cloud", "ZENML_SERVER_PRO_API_URL": "https://cp/api/v1", "ZENML_SERVER_PRO_WORKSPACE_ID": "w1"}, false, ""},
		{"pro server needs the key", map[string]string{"ZENML_SERVER_DEPLOYMENT_TYPE": "cloud", "ZENML_SERVER_PRO_API_URL": "https://cp/api/v1", "ZENML_SERVER_PRO_WORKSPACE_ID": "w1"}, true, "ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET"},
		{"short jwt key", map[string]string{"ZENML_SERVER_JWT_SECRET_KEY": "short"}, false, "at least 32"},
		{"sql secrets need a key", map[string]string{"ZENML_SECRETS_STORE_TYPE": "sql"}, true, "ZENML_SECRETS_STORE_ENCRYPTION_KEY"},
		{"unknown secrets store", map[string]string{"ZENML_SECRETS_STORE_TYPE": "vault"}, false, "not supported"},
		{"database backups", map[string]string{"ZENML_STORE_BACKUP_STRATEGY": "database"}, false, "not supported yet"},
		{"unknown backup", map[string]string{"ZENML_STORE_BACKUP_STRATEGY": "tape"}, false, "tape"},
		{"bad listen", map[string]string{"ENCLAVE_LISTEN": "8080"}, false, "ENCLAVE_LISTEN"},
		{"bad ttl", map[string]string{"ENCLAVE_RBAC_CACHE_TTL": "soon"}, false, "ENCLAVE_RBAC_CACHE_TTL"},
		{"ttl too long", map[string]string{"ENCLAVE_RBAC_CACHE_TTL": "2h"}, false, "between"},
		{"bad pool", map[string]string{"ZENML_SERVER_THREAD_POOL_SIZE": "-1"}, false, "ZENML_SERVER_THREAD_POOL_SIZE"},
		{"bad server url", map[string]string{"ZENML_SERVER_URL": "ftp://x"}, false, "ZENML_SERVER_URL"},
		{"value and file", map[string]string{"ZENML_SERVER_JWT_SECRET_KEY": strings.Repeat("k", 40), "ZENML_SERVER_JWT_SECRET_KEY_FILE": "/x"}, false, "both set"},
		{"missing file", map[string]string{"ZENML_STORE_PASSWORD_FILE": "/no/such/file"}, false, "ZENML_STORE_PASSWORD_FILE"},
		{"short default password", map[string]string{"ZENML_DEFAULT_USER_PASSWORD": "abc"}, true, "at least 8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, err := LoadConfig(envOf(env))
			if err == nil && tc.serve {
				err = cfg.ValidateServe()
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error about %q, got %v", tc.want, err)
			}
		})
	}
}
