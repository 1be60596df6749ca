package bundle

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// RegistryOptions say how to reach and log in to a registry.
type RegistryOptions struct {
	// CAFile is a PEM bundle trusted in addition to the system's CAs (which
	// already honour SSL_CERT_FILE and SSL_CERT_DIR).
	CAFile string
	// Username and Password, when set, are used for every registry; otherwise
	// ENCLAVE_REGISTRY_USERNAME/ENCLAVE_REGISTRY_PASSWORD, then the Docker
	// config file (DOCKER_CONFIG or ~/.docker/config.json).
	Username, Password string
	// PlainHTTP talks HTTP instead of HTTPS to every registry.
	PlainHTTP bool
	// Transport replaces the HTTP transport (tests); CAFile still applies.
	Transport http.RoundTripper
}

func (o RegistryOptions) transport() (http.RoundTripper, error) {
	if o.Transport != nil && o.CAFile == "" {
		return o.Transport, nil
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	if o.Transport != nil {
		if ht, ok := o.Transport.(*http.Transport); ok {
			t = ht.Clone()
		}
	}
	t.MaxIdleConnsPerHost = 32
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate found", o.CAFile)
		}
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if t.TLSClientConfig != nil {
			cfg = t.TLSClientConfig.Clone()
		}
		cfg.RootCAs = pool
		t.TLSClientConfig = cfg
	}
	return t, nil
}

func (o RegistryOptions) keychain() authn.Keychain {
	user, pass := o.Username, o.Password
	if user == "" && pass == "" {
		user, pass = os.Getenv("ENCLAVE_REGISTRY_USERNAME"), os.Getenv("ENCLAVE_REGISTRY_PASSWORD")
	}
	if user != "" || pass != "" {
		return staticKeychain{authn.FromConfig(authn.AuthConfig{Username: user, Password: pass})}
	}
	return authn.DefaultKeychain
}

type staticKeychain struct{ a authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

func (o RegistryOptions) nameOpts() []name.Option {
	if o.PlainHTTP {
		return []name.Option{name.Insecure}
	}
	return nil
}

// RemoteOptions turns these options into go-containerregistry options, for
// commands that push with it directly (enclave image build --push).
func (o RegistryOptions) RemoteOptions() ([]remote.Option, []name.Option, error) {
	rt, err := o.transport()
	if err != nil {
		return nil, nil, err
	}
	return []remote.Option{remote.WithTransport(rt), remote.WithAuthFromKeychain(o.keychain())}, o.nameOpts(), nil
}
