package kubejob

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Config says how to reach an apiserver: its URL, how to trust it, how to
// authenticate, and the namespace to use when none is given.
type Config struct {
	Host      string // https://host:port
	Namespace string // the default namespace ("default" when nothing says otherwise)

	token     string
	tokenFile string // read at each request: projected tokens are rotated
	tls       *tls.Config
}

// serviceAccountDir is where Kubernetes mounts a pod's API credentials; a
// variable so that tests can point it elsewhere.
var serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// ErrNoConfig means neither KUBECONFIG nor an in-cluster service account is
// available.
var ErrNoConfig = errors.New("no Kubernetes credentials: not in a pod with a service account token, and KUBECONFIG is not set")

// Load reads the kubeconfig at path when it is not empty, else the pod's
// service account (in-cluster).
func Load(path string) (*Config, error) {
	if path != "" {
		return FromKubeconfig(path)
	}
	return InCluster(os.Getenv)
}

// InCluster reads the pod's service account: the token (re-read at each
// request, since the kubelet rotates it), the CA and the namespace, and the
// apiserver from KUBERNETES_SERVICE_HOST and _PORT.
func InCluster(getenv func(string) string) (*Config, error) {
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	tokenFile := filepath.Join(serviceAccountDir, "token")
	if host == "" || port == "" {
		return nil, ErrNoConfig
	}
	if _, err := os.Stat(tokenFile); err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNoConfig, err)
	}
	ca, err := os.ReadFile(filepath.Join(serviceAccountDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("in-cluster config: %w", err)
	}
	tc, err := tlsConfig(ca, nil, nil, false)
	if err != nil {
		return nil, fmt.Errorf("in-cluster config: ca.crt: %w", err)
	}
	ns := "default"
	if b, err := os.ReadFile(filepath.Join(serviceAccountDir, "namespace")); err == nil && strings.TrimSpace(string(b)) != "" {
		ns = strings.TrimSpace(string(b))
	}
	return &Config{Host: "https://" + net.JoinHostPort(host, port), Namespace: ns, tokenFile: tokenFile, tls: tc}, nil
}

// kubeconfig is the part of a kubeconfig file this package understands.
type kubeconfig struct {
	CurrentContext string `json:"current-context"`
	Clusters       []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server                   string `json:"server"`
			CertificateAuthority     string `json:"certificate-authority"`
			CertificateAuthorityData string `json:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `json:"insecure-skip-tls-verify"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			Token                 string `json:"token"`
			TokenFile             string `json:"tokenFile"`
			ClientCertificate     string `json:"client-certificate"`
			ClientCertificateData string `json:"client-certificate-data"`
			ClientKey             string `json:"client-key"`
			ClientKeyData         string `json:"client-key-data"`
			Exec                  any    `json:"exec"`
			AuthProvider          any    `json:"auth-provider"`
		} `json:"user"`
	} `json:"users"`
	Contexts []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster   string `json:"cluster"`
			User      string `json:"user"`
			Namespace string `json:"namespace"`
		} `json:"context"`
	} `json:"contexts"`
}

// FromKubeconfig reads the current context of a kubeconfig file: its server,
// CA (file or data), and a token, token file or client certificate (file or
// data). Relative paths are relative to the file, as kubectl reads them.
// Exec and auth-provider plugins are refused: they need programs an
// air-gapped server does not have.
func FromKubeconfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	fail := func(format string, args ...any) (*Config, error) {
		return nil, fmt.Errorf("kubeconfig %s: "+format, append([]any{path}, args...)...)
	}
	ctxName := kc.CurrentContext
	if ctxName == "" && len(kc.Contexts) == 1 {
		ctxName = kc.Contexts[0].Name
	}
	ci := -1
	for i, c := range kc.Contexts {
		if c.Name == ctxName {
			ci = i
		}
	}
	if ci < 0 {
		return fail("no context %q", ctxName)
	}
	kctx := kc.Contexts[ci].Context
	dir := filepath.Dir(path)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	cfg := &Config{Namespace: kctx.Namespace}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	var caPEM, certPEM, keyPEM []byte
	insecure := false
	found := false
	for _, c := range kc.Clusters {
		if c.Name != kctx.Cluster {
			continue
		}
		found = true
		cfg.Host = strings.TrimRight(c.Cluster.Server, "/")
		insecure = c.Cluster.InsecureSkipTLSVerify
		if caPEM, err = fileOrData(rel(c.Cluster.CertificateAuthority), c.Cluster.CertificateAuthorityData); err != nil {
			return fail("cluster %s: certificate authority: %v", c.Name, err)
		}
	}
	if !found || cfg.Host == "" {
		return fail("context %s names cluster %q, which has no server", ctxName, kctx.Cluster)
	}
	for _, u := range kc.Users {
		if u.Name != kctx.User {
			continue
		}
		if u.User.Exec != nil || u.User.AuthProvider != nil {
			return fail("user %s authenticates with a plugin (exec or auth-provider): use a token or a client certificate", u.Name)
		}
		cfg.token, cfg.tokenFile = u.User.Token, rel(u.User.TokenFile)
		if certPEM, err = fileOrData(rel(u.User.ClientCertificate), u.User.ClientCertificateData); err != nil {
			return fail("user %s: client certificate: %v", u.Name, err)
		}
		if keyPEM, err = fileOrData(rel(u.User.ClientKey), u.User.ClientKeyData); err != nil {
			return fail("user %s: client key: %v", u.Name, err)
		}
	}
	if cfg.tls, err = tlsConfig(caPEM, certPEM, keyPEM, insecure); err != nil {
		return fail("%v", err)
	}
	return cfg, nil
}

// fileOrData returns the contents of file, or the base64-decoded data.
func fileOrData(file, data string) ([]byte, error) {
	if data != "" {
		return base64.StdEncoding.DecodeString(data)
	}
	if file == "" {
		return nil, nil
	}
	return os.ReadFile(file)
}

func tlsConfig(caPEM, certPEM, keyPEM []byte, insecure bool) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("the certificate authority holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if len(certPEM) > 0 || len(keyPEM) > 0 {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// bearer is the token to send, if any.
func (c *Config) bearer() (string, error) {
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return "", fmt.Errorf("read the API token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return c.token, nil
}
