package controlplane

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// Config is everything the control plane needs to start.
type Config struct {
	Listen        string // address to listen on, e.g. ":8080"
	DatabaseURL   string
	ServerURL     string // the public URL; the issuer of its tokens
	AdminUsername string
	AdminPassword string // "" keeps the stored password (a first start generates one)

	AccessTokenTTL    time.Duration
	RefreshTokenTTL   time.Duration
	WorkspaceTokenTTL time.Duration

	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Getenv reads one environment variable; os.Getenv in production.
type Getenv func(string) string

// LoadConfig reads the ENCLAVE_* environment, where every secret may also
// come from a file named by NAME_FILE (as Kubernetes mounts them).
func LoadConfig(getenv Getenv) (Config, error) {
	c := Config{
		Listen:            or(getenv("ENCLAVE_LISTEN"), ":8080"),
		ServerURL:         getenv("ENCLAVE_SERVER_URL"),
		AdminUsername:     or(getenv("ENCLAVE_ADMIN_USERNAME"), "admin"),
		AccessTokenTTL:    time.Hour,
		RefreshTokenTTL:   7 * 24 * time.Hour,
		WorkspaceTokenTTL: time.Hour,
	}
	var err error
	if c.AdminPassword, err = secretEnv(getenv, "ENCLAVE_ADMIN_PASSWORD"); err != nil {
		return c, err
	}
	if c.DatabaseURL, err = secretEnv(getenv, "ENCLAVE_DATABASE_URL"); err != nil {
		return c, err
	}
	if c.DatabaseURL == "" && getenv("ENCLAVE_DATABASE_HOST") != "" {
		pw, err := secretEnv(getenv, "ENCLAVE_DATABASE_PASSWORD")
		if err != nil {
			return c, err
		}
		c.DatabaseURL, err = sqldb.BuildURL(getenv("ENCLAVE_DATABASE_TYPE"), getenv("ENCLAVE_DATABASE_HOST"),
			getenv("ENCLAVE_DATABASE_PORT"), getenv("ENCLAVE_DATABASE_USERNAME"), pw, getenv("ENCLAVE_DATABASE_NAME"))
		if err != nil {
			return c, fmt.Errorf("ENCLAVE_DATABASE_*: %w", err)
		}
	}
	if v := getenv("ENCLAVE_ACCESS_TOKEN_TTL"); v != "" {
		if c.AccessTokenTTL, err = time.ParseDuration(v); err != nil {
			return c, fmt.Errorf("ENCLAVE_ACCESS_TOKEN_TTL: %w", err)
		}
	}
	return c, nil
}

// secretEnv reads NAME, or the file named by NAME_FILE.
func secretEnv(getenv Getenv, name string) (string, error) {
	v := getenv(name)
	f := getenv(name + "_FILE")
	if f == "" {
		return v, nil
	}
	if v != "" {
		return "", fmt.Errorf("both %s and %s_FILE are set: use one", name, name)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Validate checks the configuration with one clear message per problem.
func (c *Config) Validate() error {
	if c.AccessTokenTTL == 0 {
		c.AccessTokenTTL = time.Hour
	}
	checks := []struct {
		bad bool
		msg string
	}{
		{c.Listen == "", "listen address is empty"},
		{c.DatabaseURL == "", "database URL is empty (set --database or ENCLAVE_DATABASE_URL)"},
		{c.AdminUsername == "", "admin username is empty"},
		{c.AdminPassword != "" && len(c.AdminPassword) < 8, "admin password must be at least 8 characters"},
		{c.AccessTokenTTL < time.Minute, "access token lifetime must be at least a minute"},
	}
	for _, ch := range checks {
		if ch.bad {
			return fmt.Errorf("control plane configuration: %s", ch.msg)
		}
	}
	if _, err := sqldb.ParseURL(c.DatabaseURL); err != nil {
		return fmt.Errorf("control plane configuration: %w", err)
	}
	if c.ServerURL != "" {
		u, err := url.Parse(c.ServerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("control plane configuration: server URL %q must be an http(s) URL", c.ServerURL)
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RefreshTokenTTL == 0 {
		c.RefreshTokenTTL = 7 * 24 * time.Hour
	}
	if c.WorkspaceTokenTTL == 0 {
		c.WorkspaceTokenTTL = time.Hour
	}
	return nil
}
