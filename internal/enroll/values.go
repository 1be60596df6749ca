package enroll

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// DefaultImageRepository is the workspace chart's own default image.
const DefaultImageRepository = "ghcr.io/enclave-mlops/enclave"

// Values is what the written values file carries. Empty optional fields are
// left out of the file, so the chart's defaults apply.
type Values struct {
	ControlPlaneURL  string // the dashboard URL, without /api/v1
	OrganizationID   string
	OrganizationName string
	WorkspaceID      string
	WorkspaceName    string
	EnrollmentKey    string
	EncryptionKey    string // 64 hex digits; NewEncryptionKey makes one

	DatabaseURL     string
	ImageRepository string // DefaultImageRepository when empty
	ImageTag        string
	ServerURL       string
	IngressHost     string
	IngressClass    string
	TLSSecret       string
}

// NewEncryptionKey returns 32 random bytes as 64 hex digits, the form the
// workspace server and the chart expect for the secrets store.
func NewEncryptionKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate the encryption key: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// The file is written from a template rather than marshalled so that it
// keeps the comments an operator needs; every value goes through q, which
// quotes it as a JSON string (a valid YAML double-quoted scalar), so no
// answer can break the YAML.
var valuesTemplate = template.Must(template.New("values").Funcs(template.FuncMap{"q": quote}).Parse(
	`# Values of the Enclave workspace chart for workspace {{q .WorkspaceName}},
# written by enclave enroll. It holds the workspace's enrollment key and the
# key of its secrets store: keep it as secret as a password.
zenml:
  analyticsOptIn: false
  database:
{{- if .DatabaseURL}}
    url: {{q .DatabaseURL}}
{{- else}}
    # No --database-url was given: the server keeps SQLite under /data, which
    # is lost with the pod unless persistence.enabled is set.
    url: ""
{{- end}}
  image:
    repository: {{q .ImageRepository}}
{{- if .ImageTag}}
    tag: {{q .ImageTag}}
{{- else}}
    # The tag defaults to the chart's appVersion.
{{- end}}
{{- if .ServerURL}}
  serverURL: {{q .ServerURL}}
{{- end}}
{{- if .IngressHost}}
  ingress:
    enabled: true
    host: {{q .IngressHost}}
{{- if .IngressClass}}
    className: {{q .IngressClass}}
{{- end}}
{{- if .TLSSecret}}
    tls:
      enabled: true
      secretName: {{q .TLSSecret}}
{{- end}}
{{- end}}
  pro:
    enabled: true
    apiURL: {{q .APIURL}}
    dashboardURL: {{q .ControlPlaneURL}}
    enrollmentKey: {{q .EnrollmentKey}}
    organizationID: {{q .OrganizationID}}
    organizationName: {{q .OrganizationName}}
    workspaceID: {{q .WorkspaceID}}
    workspaceName: {{q .WorkspaceName}}
  replicaCount: 1
  secretsStore:
    enabled: true
    type: sql
    sql:
      # Losing this key makes the workspace's stored secrets unreadable.
      encryptionKey: {{q .EncryptionKey}}
`))

func quote(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// APIURL is the control plane's API as the workspace server calls it.
func (v Values) APIURL() string { return strings.TrimRight(v.ControlPlaneURL, "/") + "/api/v1" }

// Render returns the values file.
func (v Values) Render() ([]byte, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	if v.ImageRepository == "" {
		v.ImageRepository = DefaultImageRepository
	}
	v.ControlPlaneURL = strings.TrimRight(v.ControlPlaneURL, "/")
	var buf bytes.Buffer
	if err := valuesTemplate.Execute(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// check refuses values the chart would reject or that make no working server.
func (v Values) check() error {
	for _, f := range []struct{ name, value string }{
		{"control plane URL", v.ControlPlaneURL}, {"organization id", v.OrganizationID},
		{"organization name", v.OrganizationName}, {"workspace id", v.WorkspaceID},
		{"workspace name", v.WorkspaceName}, {"enrollment key", v.EnrollmentKey},
	} {
		if f.value == "" {
			return fmt.Errorf("values file: the %s is missing", f.name)
		}
	}
	if len(v.EncryptionKey) != 64 {
		return errors.New("values file: the encryption key must be 64 hex digits")
	}
	if v.IngressClass != "" && v.IngressHost == "" {
		return errors.New("--ingress-class needs --ingress-host")
	}
	if v.TLSSecret != "" && v.IngressHost == "" {
		return errors.New("--tls-secret needs --ingress-host")
	}
	return nil
}

// outputFile is the values file being written: a temporary file next to the
// target, created before the workspace is enrolled so that an unwritable
// folder fails before the enrollment key (shown only once) exists, and
// renamed over the target only when complete.
type outputFile struct {
	path string
	tmp  *os.File
}

// createOutput prepares path for writing with mode 0600.
func createOutput(path string) (*outputFile, error) {
	if path == "" {
		return nil, errors.New("--output: no file name")
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("--output %s is a folder", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--output: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("--output: cannot write next to %s: %w", path, err)
	}
	// CreateTemp makes the file 0600 already; say so in case a umask or
	// platform differs.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return &outputFile{path: path, tmp: tmp}, nil
}

// commit writes data and moves the file into place.
func (o *outputFile) commit(data []byte) error {
	name := o.tmp.Name()
	if _, err := o.tmp.Write(data); err != nil {
		o.abort()
		return err
	}
	if err := o.tmp.Sync(); err != nil {
		o.abort()
		return err
	}
	if err := o.tmp.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, o.path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// abort removes the temporary file; the target is left as it was.
func (o *outputFile) abort() {
	o.tmp.Close()
	os.Remove(o.tmp.Name())
}
