// Package doctor checks a running deployment from the outside, the way the
// deployment guide's "Verify the Deployment" and "Troubleshooting" steps do by
// hand with curl, dig and openssl: name resolution, reachability, the TLS chain
// against the internal CA, health, enrollment and version skew. It speaks only
// to the servers' public endpoints (through client/), so it runs from any
// machine that a user's tools run from, and its findings are what those tools
// would meet.
package doctor

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/enclave-mlops/enclave/internal/version"
)

// Status is the outcome of one check.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn" // worth a look; does not fail the run
	Fail Status = "FAIL"
	Skip Status = "skip" // not run because a check it needs failed
)

// Check is one line of the report.
type Check struct {
	Name   string `json:"name"`   // dns, tcp, tls, health, version, login, enrollment, info, skew
	Target string `json:"target"` // the host, address, URL or workspace checked
	Status Status `json:"status"`
	Detail string `json:"detail"`
}

// Report is the outcome of a run.
type Report struct {
	OK     bool    `json:"ok"` // no check failed
	Checks []Check `json:"checks"`
}

func (r *Report) add(name, target string, st Status, format string, args ...any) Check {
	c := Check{Name: name, Target: target, Status: st, Detail: fmt.Sprintf(format, args...)}
	r.Checks = append(r.Checks, c)
	if st == Fail {
		r.OK = false
	}
	return c
}

// WriteText prints one aligned line per check.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Status, c.Name, c.Target, c.Detail)
	}
	return tw.Flush()
}

// WriteJSON prints the report as one JSON document.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Config says what to check.
type Config struct {
	ControlPlane string   // the control plane's URL
	Workspaces   []string // workspace servers' URLs
	// CAFile is a PEM bundle of the internal CA; empty: the system's roots.
	CAFile string
	// Username and Password log in to the control plane for the enrollment
	// checks; without them those checks are not run.
	Username, Password string
	WarnDays           int           // warn when a certificate expires within this many days
	Timeout            time.Duration // of each network step
	// StaleAfter is how old a workspace's last report may be before it is
	// worth a warning; workspaces report every five minutes.
	StaleAfter time.Duration
	// Now is the clock for certificate validity and ages; nil: time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.WarnDays < 0 {
		c.WarnDays = 0
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 15 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Run runs every check and returns the report. The error is for a
// configuration that cannot be checked at all (a malformed URL, an unreadable
// CA file); what is wrong with the deployment is in the report.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg.defaults()
	rep := Report{OK: true}
	cp, err := parseURL("--controlplane", cfg.ControlPlane)
	if err != nil {
		return rep, err
	}
	var wss []*url.URL
	for _, w := range cfg.Workspaces {
		u, err := parseURL("--workspace", w)
		if err != nil {
			return rep, err
		}
		wss = append(wss, u)
	}
	var roots *x509.CertPool
	if cfg.CAFile != "" {
		if roots, err = loadCA(cfg.CAFile); err != nil {
			return rep, err
		}
	}
	d := &run{cfg: cfg, rep: &rep, roots: roots}
	d.controlPlane(ctx, cp)
	for _, u := range wss {
		d.workspace(ctx, u)
	}
	return rep, nil
}

func parseURL(flag, s string) (*url.URL, error) {
	if s == "" {
		return nil, fmt.Errorf("%s is required", flag)
	}
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s %q must be an http:// or https:// URL", flag, s)
	}
	return u, nil
}

func loadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// ServerVersion is what the doctor assumes of a control plane that does not
// say its version: the doctor's own.
func ServerVersion() string { return version.Version }
