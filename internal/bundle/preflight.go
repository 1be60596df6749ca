package bundle

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// preflight checks, before anything is uploaded, that the registry answers,
// that its certificate is trusted, that the credentials are accepted and
// allow pushing, and that the journal has room. Each failure says what to do.
func preflight(ctx context.Context, host string, opts PushOptions, repos []string, firstRepo, journalDir string) (*regClient, error) {
	if err := checkFreeDisk(journalDir, 1<<20); err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	base, err := opts.Registry.transport()
	if err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	scheme := "https"
	if opts.Registry.PlainHTTP {
		scheme = "http"
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(pctx, http.MethodGet, scheme+"://"+host+"/v2/", nil)
	resp, err := (&http.Client{Transport: base}).Do(req)
	if err != nil {
		return nil, explainConnError(host, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
		return nil, fmt.Errorf("preflight: %s answered /v2/ with %d: not an OCI registry?", host, resp.StatusCode)
	}
	c, err := newRegClient(ctx, host, opts.Registry, repos)
	if err != nil {
		return nil, fmt.Errorf("preflight: logging in to %s: %w (check --username/--password, "+
			"ENCLAVE_REGISTRY_USERNAME/ENCLAVE_REGISTRY_PASSWORD or the Docker config)", host, err)
	}
	resp2, err := c.do(ctx, http.MethodGet, c.url("/v2/"), nil, 0, nil, 200)
	if err != nil {
		return nil, fmt.Errorf("preflight: credentials not accepted by %s: %w", host, err)
	}
	drain(resp2)
	// Opening and cancelling an upload proves the right to push there (and,
	// on Harbor, that the project exists) without storing anything.
	_, loc, err := c.startUpload(ctx, firstRepo, "", "")
	if err != nil {
		var re *registryError
		if errors.As(err, &re) && (re.status == 401 || re.status == 403 || re.status == 404) {
			return nil, fmt.Errorf("preflight: no permission to push to %s/%s (does the project exist, may this user push?): %w", host, firstRepo, err)
		}
		return nil, fmt.Errorf("preflight: %w", err)
	}
	c.cancelUpload(ctx, loc)
	return c, nil
}

func explainConnError(host string, err error) error {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return fmt.Errorf("preflight: TLS certificate of %s is signed by an unknown authority; "+
			"pass the internal CA with --ca-file or SSL_CERT_FILE: %w", host, err)
	case errors.As(err, &hn):
		return fmt.Errorf("preflight: TLS certificate of %s does not name it: %w", host, err)
	case errors.As(err, &ci):
		return fmt.Errorf("preflight: TLS certificate of %s is invalid: %w", host, err)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("preflight: %s speaks plain HTTP; use --plain-http if that is intended", host)
	}
	return fmt.Errorf("preflight: registry %s unreachable: %w", host, err)
}
