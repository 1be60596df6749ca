// Package registrytest starts a real OCI registry (Debian's docker-registry,
// CNCF distribution 2.8) on a loopback port for tests and benchmarks, so code
// that talks to registries is exercised against the server real users run
// rather than an in-process fake. It can serve TLS from a freshly generated
// test CA and require htpasswd basic auth.
//
// Tests call New; programs such as benchmarks call Start and Close.
// When the binary is missing New skips the test, unless the environment sets
// ENCLAVE_REQUIRE_SERVICES=1, in which case it fails.
package registrytest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Options choose how the registry is served. The zero value is plain HTTP
// without auth.
type Options struct {
	// TLS serves HTTPS with a server certificate for 127.0.0.1 signed by a
	// new test CA; the CA is written to Registry.CAFile.
	TLS bool
	// Username and Password, when both set, require htpasswd basic auth.
	Username, Password string
	// Dir holds storage, config and logs; a new temporary folder when empty.
	Dir string
}

// Registry is a running registry.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry part of an image reference.
	Host string
	// CAFile is the PEM file of the test CA when TLS is on, else empty.
	CAFile string
	// CAPool holds the test CA when TLS is on, else nil.
	CAPool *x509.CertPool
	// Username and Password are the accepted credentials when auth is on.
	Username, Password string
	// Dir is the folder holding storage, config and the server's log.
	Dir string

	cmd     *exec.Cmd
	done    chan struct{}
	tempDir bool
}

// Binary returns the path of the registry program, or "" when none is
// installed. ENCLAVE_REGISTRY_BIN overrides the search.
func Binary() string {
	if p := os.Getenv("ENCLAVE_REGISTRY_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("docker-registry"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/docker-registry"); err == nil {
		return "/usr/bin/docker-registry"
	}
	return ""
}

// New starts a registry for the test and stops it when the test ends.
func New(t testing.TB, opts Options) *Registry {
	t.Helper()
	if Binary() == "" {
		if os.Getenv("ENCLAVE_REQUIRE_SERVICES") == "1" {
			t.Fatal("registrytest: docker-registry is not installed (apt-get install docker-registry)")
		}
		t.Skip("registrytest: docker-registry is not installed")
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	r, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("registrytest: %v", err)
		}
	})
	return r
}

// Start starts a registry and waits until it answers. The caller must Close it.
func Start(opts Options) (*Registry, error) {
	bin := Binary()
	if bin == "" {
		return nil, errors.New("registrytest: docker-registry is not installed")
	}
	r := &Registry{Dir: opts.Dir, Username: opts.Username, Password: opts.Password}
	if r.Dir == "" {
		d, err := os.MkdirTemp("", "registrytest-")
		if err != nil {
			return nil, err
		}
		r.Dir, r.tempDir = d, true
	}
	var tlsCfg, authCfg string
	if opts.TLS {
		crt, key, err := writeTestPKI(r.Dir)
		if err != nil {
			return nil, err
		}
		r.CAFile = filepath.Join(r.Dir, "ca.crt")
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return nil, err
		}
		r.CAPool = x509.NewCertPool()
		r.CAPool.AppendCertsFromPEM(pem)
		tlsCfg = fmt.Sprintf("  tls: {certificate: %q, key: %q}\n", crt, key)
	}
	if opts.Username != "" && opts.Password != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		hp := filepath.Join(r.Dir, "htpasswd")
		if err := os.WriteFile(hp, fmt.Appendf(nil, "%s:%s\n", opts.Username, hash), 0o600); err != nil {
			return nil, err
		}
		authCfg = fmt.Sprintf("auth: {htpasswd: {realm: registrytest, path: %q}}\n", hp)
	}
	// A port picked by the kernel can be taken again before the registry binds
	// it; a few attempts make that race harmless.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r.Host = "127.0.0.1:" + strconv.Itoa(port)
		cfg := fmt.Sprintf("version: 0.1\nlog: {level: warn, accesslog: {disabled: true}}\n"+
			"storage: {filesystem: {rootdirectory: %q}, delete: {enabled: true}}\n%s"+
			"http:\n  addr: %s\n  secret: registrytest\n%s",
			filepath.Join(r.Dir, "storage"), authCfg, r.Host, tlsCfg)
		cfgPath := filepath.Join(r.Dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		if lastErr = r.run(bin, cfgPath); lastErr == nil {
			return r, nil
		}
	}
	return nil, lastErr
}

func (r *Registry) run(bin, cfgPath string) error {
	logf, err := os.OpenFile(filepath.Join(r.Dir, "registry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("registrytest: start %s: %w", bin, err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(r.done) }()

	client := &http.Client{Transport: r.Transport(), Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			return fmt.Errorf("registrytest: registry exited early: %s", r.logTail())
		default:
		}
		resp, err := client.Get(r.URL() + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = r.stop()
	return fmt.Errorf("registrytest: registry on %s not ready after 20s: %s", r.Host, r.logTail())
}

// URL is the base URL of the registry: https://HOST with TLS, else http://HOST.
func (r *Registry) URL() string {
	if r.CAPool != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// Transport returns an HTTP transport that trusts the test CA, if any.
func (r *Registry) Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if r.CAPool != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: r.CAPool, MinVersion: tls.VersionTLS12}
	}
	return t
}

// Close stops the registry and removes its folder when Start created it.
func (r *Registry) Close() error {
	err := r.stop()
	if r.tempDir {
		if rerr := os.RemoveAll(r.Dir); err == nil {
			err = rerr
		}
	}
	return err
}

func (r *Registry) stop() error {
	if r.cmd == nil || r.cmd.Process == nil {
		return nil
	}
	select {
	case <-r.done:
		return nil
	default:
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	return nil
}

func (r *Registry) logTail() string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, "registry.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

func freePort() (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
