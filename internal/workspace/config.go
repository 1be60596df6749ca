package workspace

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// Config is everything a workspace server is told at start. It is read from
// the same environment as the original server's (ZENML_*), plus a few
// ENCLAVE_* settings of its own; flags of the CLI override single fields.
type Config struct {
	StoreURL       string // ZENML_STORE_URL, with ZENML_STORE_USERNAME/_PASSWORD applied
	PoolSize       int    // ZENML_STORE_POOL_SIZE (0: the dialect's default)
	ServerURL      string // ZENML_SERVER_URL: how clients reach this server
	DeploymentType string // ZENML_SERVER_DEPLOYMENT_TYPE; "cloud" switches pro mode on
	Pro            ProConfig
	JWTSecretKey   string // ZENML_SERVER_JWT_SECRET_KEY; empty: generated once and kept in the store
	ThreadPool     int    // ZENML_SERVER_THREAD_POOL_SIZE: requests served at once (0: no limit)

	// GET /api_token's generic tokens: how long one lasts unless asked
	// otherwise, and at most (ZENML_SERVER_GENERIC_API_TOKEN_LIFETIME and
	// _MAX_LIFETIME, in seconds; 1 hour and 7 days by default).
	GenericTokenLifetime, GenericTokenMaxLifetime int

	SecretsStoreType string // ZENML_SECRETS_STORE_TYPE: "sql" or "none"
	EncryptionKey    string // ZENML_SECRETS_STORE_ENCRYPTION_KEY

	BackupStrategy string // ZENML_STORE_BACKUP_STRATEGY: disabled, in-memory or dump-file
	BackupDir      string // ZENML_STORE_BACKUP_DIRECTORY (default DataDir/backups)

	DefaultUserName     string // ZENML_DEFAULT_USER_NAME (default "default")
	DefaultUserPassword string // ZENML_DEFAULT_USER_PASSWORD

	Listen       string        // ENCLAVE_LISTEN (default ":8080")
	DataDir      string        // ENCLAVE_DATA_DIR: logs and the local artifact store
	RBACCacheTTL time.Duration // ENCLAVE_RBAC_CACHE_TTL (default 30s)
	// RunTokenGrace is how long a run-scoped token keeps working after its
	// run ended (ENCLAVE_RUN_TOKEN_GRACE, default 2m; see run_tokens.go).
	RunTokenGrace time.Duration

	Workload *WorkloadConfig // the workload manager (workload_config.go); nil: off

	// HTTPClient carries the calls to the control plane; nil means a client
	// with a 30-second timeout. Tests and `enclave up` may set their own.
	HTTPClient *http.Client
}

// ProConfig is the pro mode's link to the control plane.
type ProConfig struct {
	APIURL           string // ZENML_SERVER_PRO_API_URL, e.g. https://cp.example.com/api/v1
	DashboardURL     string // ZENML_SERVER_PRO_DASHBOARD_URL
	ClientSecret     string // ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET: the enrollment key
	Audience         string // ZENML_SERVER_PRO_OAUTH2_AUDIENCE
	OrganizationID   string // ZENML_SERVER_PRO_ORGANIZATION_ID
	OrganizationName string // ZENML_SERVER_PRO_ORGANIZATION_NAME
	WorkspaceID      string // ZENML_SERVER_PRO_WORKSPACE_ID
	WorkspaceName    string // ZENML_SERVER_PRO_WORKSPACE_NAME
}

// ProMode reports whether the server belongs to a control plane.
func (c Config) ProMode() bool { return c.DeploymentType == "cloud" }

// DefaultRBACCacheTTL is how long a permission decision of the control
// plane is reused: the longest a revoked membership keeps working.
const DefaultRBACCacheTTL = 30 * time.Second

// DefaultRunTokenGrace lets a runner report what follows the step that
// ended its run (its own end, its log) with its run-scoped token.
const DefaultRunTokenGrace = 2 * time.Minute

// Backup strategies.
const (
	BackupDisabled = "disabled"
	BackupInMemory = "in-memory"
	BackupDumpFile = "dump-file"
	BackupDatabase = "database"
)

var deploymentTypes = []string{"local", "docker", "kubernetes", "aws", "gcp", "azure", "other", "hf_spaces", "sandbox", "cloud", "helm"}

// secretNames are read from NAME_FILE when that is set.
var envNames = []string{
	"ZENML_STORE_URL", "ZENML_STORE_USERNAME", "ZENML_STORE_PASSWORD", "ZENML_STORE_POOL_SIZE",
	"ZENML_SERVER_URL", "ZENML_SERVER_DEPLOYMENT_TYPE", "ZENML_SERVER_PRO_API_URL",
	"ZENML_SERVER_PRO_DASHBOARD_URL", "ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET",
	"ZENML_SERVER_PRO_OAUTH2_AUDIENCE", "ZENML_SERVER_PRO_ORGANIZATION_ID",
	"ZENML_SERVER_PRO_ORGANIZATION_NAME", "ZENML_SERVER_PRO_WORKSPACE_ID",
	"ZENML_SERVER_PRO_WORKSPACE_NAME", "ZENML_SERVER_JWT_SECRET_KEY",
	"ZENML_SERVER_THREAD_POOL_SIZE", "ZENML_SECRETS_STORE_TYPE",
	"ZENML_SECRETS_STORE_ENCRYPTION_KEY", "ZENML_STORE_BACKUP_STRATEGY",
	"ZENML_STORE_BACKUP_DIRECTORY", "ZENML_DEFAULT_USER_NAME", "ZENML_DEFAULT_USER_PASSWORD",
	"ENCLAVE_LISTEN", "ENCLAVE_DATA_DIR", "ENCLAVE_RBAC_CACHE_TTL", "ENCLAVE_RUN_TOKEN_GRACE",
}

// LoadConfig reads the configuration from getenv (os.Getenv in production)
// and checks it. For each NAME, NAME_FILE names a file to read the value from
// instead, as Kubernetes mounts secrets.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := map[string]string{}
	var problems []string
	for _, n := range envNames {
		v, f := getenv(n), getenv(n+"_FILE")
		switch {
		case f != "" && v != "":
			problems = append(problems, fmt.Sprintf("%s and %s_FILE are both set: use one", n, n))
		case f != "":
			b, err := os.ReadFile(f)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s_FILE: %v", n, err))
				continue
			}
			env[n] = strings.TrimRight(string(b), "\r\n")
		default:
			env[n] = v
		}
	}
	c := Config{
		StoreURL:       env["ZENML_STORE_URL"],
		ServerURL:      strings.TrimRight(env["ZENML_SERVER_URL"], "/"),
		DeploymentType: env["ZENML_SERVER_DEPLOYMENT_TYPE"],
		Pro: ProConfig{
			APIURL:           strings.TrimRight(env["ZENML_SERVER_PRO_API_URL"], "/"),
			DashboardURL:     env["ZENML_SERVER_PRO_DASHBOARD_URL"],
			ClientSecret:     env["ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET"],
			Audience:         env["ZENML_SERVER_PRO_OAUTH2_AUDIENCE"],
			OrganizationID:   env["ZENML_SERVER_PRO_ORGANIZATION_ID"],
			OrganizationName: env["ZENML_SERVER_PRO_ORGANIZATION_NAME"],
			WorkspaceID:      env["ZENML_SERVER_PRO_WORKSPACE_ID"],
			WorkspaceName:    env["ZENML_SERVER_PRO_WORKSPACE_NAME"],
		},
		JWTSecretKey:        env["ZENML_SERVER_JWT_SECRET_KEY"],
		SecretsStoreType:    env["ZENML_SECRETS_STORE_TYPE"],
		EncryptionKey:       env["ZENML_SECRETS_STORE_ENCRYPTION_KEY"],
		BackupStrategy:      env["ZENML_STORE_BACKUP_STRATEGY"],
		BackupDir:           env["ZENML_STORE_BACKUP_DIRECTORY"],
		DefaultUserName:     env["ZENML_DEFAULT_USER_NAME"],
		DefaultUserPassword: env["ZENML_DEFAULT_USER_PASSWORD"],
		Listen:              env["ENCLAVE_LISTEN"],
		DataDir:             env["ENCLAVE_DATA_DIR"],
	}
	if c.StoreURL != "" && (env["ZENML_STORE_USERNAME"] != "" || env["ZENML_STORE_PASSWORD"] != "") {
		u, err := sqldb.WithCredentials(c.StoreURL, env["ZENML_STORE_USERNAME"], env["ZENML_STORE_PASSWORD"])
		if err != nil {
			problems = append(problems, "ZENML_STORE_URL: "+err.Error())
		}
		c.StoreURL = u
	}
	intVar := func(name string, dst *int) {
		if s := env[name]; s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				problems = append(problems, fmt.Sprintf("%s must be a whole number ≥ 0, not %q", name, s))
			}
			*dst = n
		}
	}
	intVar("ZENML_STORE_POOL_SIZE", &c.PoolSize)
	intVar("ZENML_SERVER_THREAD_POOL_SIZE", &c.ThreadPool)
	intVar("ZENML_SERVER_GENERIC_API_TOKEN_LIFETIME", &c.GenericTokenLifetime)
	intVar("ZENML_SERVER_GENERIC_API_TOKEN_MAX_LIFETIME", &c.GenericTokenMaxLifetime)
	durationVar := func(name string, v *time.Duration, def time.Duration) {
		*v = def
		if s := env[name]; s != "" {
			d, err := time.ParseDuration(s)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s must be a duration like %s, not %q", name, def, s))
			}
			*v = d
		}
	}
	durationVar("ENCLAVE_RBAC_CACHE_TTL", &c.RBACCacheTTL, DefaultRBACCacheTTL)
	durationVar("ENCLAVE_RUN_TOKEN_GRACE", &c.RunTokenGrace, DefaultRunTokenGrace)
	problems = append(problems, c.loadWorkload(getenv)...)
	if len(problems) > 0 {
		return c, errors.New("configuration: " + strings.Join(problems, "; "))
	}
	c.applyDefaults()
	return c, c.Validate()
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = ":8080"
	}
	if c.DataDir == "" {
		c.DataDir = "enclave-data"
	}
	if c.BackupStrategy == "" {
		c.BackupStrategy = BackupInMemory
	}
	if c.SecretsStoreType == "" {
		c.SecretsStoreType = "none"
		if c.EncryptionKey != "" {
			c.SecretsStoreType = "sql"
		}
	}
	if c.DefaultUserName == "" {
		c.DefaultUserName = "default"
	}
	if c.ProMode() && c.Pro.Audience == "" {
		c.Pro.Audience = c.Pro.APIURL
	}
}

// genericTokenLifetimes are GenericTokenLifetime and GenericTokenMaxLifetime,
// or their defaults where unset: an hour, and seven days.
func (c Config) genericTokenLifetimes() (lifetime, max int) {
	return cmp.Or(c.GenericTokenLifetime, 3600), cmp.Or(c.GenericTokenMaxLifetime, 7*24*3600)
}

type check struct {
	bad bool
	msg string
}

// Validate checks the configuration as a whole and says every problem at once.
// It covers what both the server and `enclave migrate workspace` need; the
// server adds the checks of ValidateServe.
func (c Config) Validate() error {
	_, storeErr := sqldb.ParseURL(c.StoreURL)
	tokenLife, tokenMax := c.genericTokenLifetimes()
	checks := []check{
		{c.StoreURL == "", "ZENML_STORE_URL is required (e.g. sqlite:////data/zenml.db, postgresql://user@host/db, mysql://user@host/db)"},
		{c.StoreURL != "" && storeErr != nil, fmt.Sprintf("ZENML_STORE_URL: %v", storeErr)},
		{c.DeploymentType != "" && !slices.Contains(deploymentTypes, c.DeploymentType), fmt.Sprintf("ZENML_SERVER_DEPLOYMENT_TYPE %q is not one of %s", c.DeploymentType, strings.Join(deploymentTypes, ", "))},
		{c.ServerURL != "" && !isHTTPURL(c.ServerURL), fmt.Sprintf("ZENML_SERVER_URL %q must be an http:// or https:// URL", c.ServerURL)},
		{c.ProMode() && !isHTTPURL(c.Pro.APIURL), "ZENML_SERVER_PRO_API_URL must be the control plane's http(s) URL ending in /api/v1 in pro mode (ZENML_SERVER_DEPLOYMENT_TYPE=cloud)"},
		{c.ProMode() && !workspaceIDPattern.MatchString(c.Pro.WorkspaceID), "ZENML_SERVER_PRO_WORKSPACE_ID must be set to the workspace's id (letters, digits, '-', '_', '.') in pro mode"},
		{c.JWTSecretKey != "" && len(c.JWTSecretKey) < 32, "ZENML_SERVER_JWT_SECRET_KEY must be at least 32 characters"},
		{c.SecretsStoreType != "sql" && c.SecretsStoreType != "none", fmt.Sprintf("ZENML_SECRETS_STORE_TYPE %q is not supported (want sql or none)", c.SecretsStoreType)},
		{c.EncryptionKey != "" && len(c.EncryptionKey) < 16, "ZENML_SECRETS_STORE_ENCRYPTION_KEY must be at least 16 characters"},
		{c.BackupStrategy == BackupDatabase, "ZENML_STORE_BACKUP_STRATEGY=database is not supported yet: use in-memory, dump-file or disabled"},
		{!slices.Contains([]string{BackupDisabled, BackupInMemory, BackupDumpFile, BackupDatabase}, c.BackupStrategy), fmt.Sprintf("ZENML_STORE_BACKUP_STRATEGY %q is not one of disabled, in-memory, dump-file", c.BackupStrategy)},
		{!validListen(c.Listen), fmt.Sprintf("ENCLAVE_LISTEN %q must be host:port or :port", c.Listen)},
		{c.RBACCacheTTL < 0 || c.RBACCacheTTL > time.Hour, "ENCLAVE_RBAC_CACHE_TTL must be between 0s and 1h"},
		{c.RunTokenGrace < 0 || c.RunTokenGrace > time.Hour, "ENCLAVE_RUN_TOKEN_GRACE must be between 0s and 1h"},
		{tokenLife > tokenMax, fmt.Sprintf("ZENML_SERVER_GENERIC_API_TOKEN_LIFETIME (%d s) must not exceed ZENML_SERVER_GENERIC_API_TOKEN_MAX_LIFETIME (%d s)", tokenLife, tokenMax)},
	}
	return report(checks)
}

// ValidateServe adds the checks only a serving server needs (the migration
// job is not given these secrets).
func (c Config) ValidateServe() error {
	if err := c.Validate(); err != nil {
		return err
	}
	return report([]check{
		{c.ProMode() && c.Pro.ClientSecret == "", "ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET (the enrollment key) is required in pro mode"},
		{c.SecretsStoreType == "sql" && c.EncryptionKey == "", "ZENML_SECRETS_STORE_TYPE=sql needs ZENML_SECRETS_STORE_ENCRYPTION_KEY: secrets are never kept unencrypted"},
		{!c.ProMode() && c.DefaultUserPassword != "" && len(c.DefaultUserPassword) < 8, "ZENML_DEFAULT_USER_PASSWORD must be at least 8 characters"},
	})
}

func report(checks []check) error {
	var msgs []string
	for _, ch := range checks {
		if ch.bad {
			msgs = append(msgs, ch.msg)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New("configuration: " + strings.Join(msgs, "; "))
}

// workspaceIDPattern is what the control plane's resource strings allow in
// an id.
var workspaceIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func validListen(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n < 65536
}
