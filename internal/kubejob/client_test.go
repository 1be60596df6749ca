package kubejob

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI is an apiserver stand-in that records every request and answers
// with what its handler says.
type fakeAPI struct {
	mu   sync.Mutex
	reqs []recorded
	// answer returns status and body for a request; nil answers 200 {}.
	answer func(r recorded) (int, any)
}

type recorded struct {
	Method, Path, Query, Auth string
	Body                      []byte
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec := recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), Body: b}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	f.mu.Unlock()
	code, body := http.StatusOK, any(map[string]any{})
	if f.answer != nil {
		code, body = f.answer(rec)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if s, ok := body.(string); ok {
		io.WriteString(w, s)
		return
	}
	json.NewEncoder(w).Encode(body)
}

func (f *fakeAPI) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func status(code int, reason, msg string) (int, any) {
	return code, map[string]any{"kind": "Status", "status": "Failure", "reason": reason, "message": msg, "code": code}
}

// tokenKubeconfig starts ts over TLS and writes a kubeconfig for it with the
// CA as data and a bearer token.
func tokenKubeconfig(t *testing.T, f *fakeAPI) string {
	t.Helper()
	ts := httptest.NewTLSServer(f)
	t.Cleanup(ts.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	path := filepath.Join(t.TempDir(), "kubeconfig")
	writeFile(t, path, fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: test
clusters:
- name: c
  cluster:
    server: %s/
    certificate-authority-data: %s
users:
- name: u
  user:
    token: s3cret
contexts:
- name: other
  context: {cluster: nope, user: nope}
- name: test
  context: {cluster: c, user: u, namespace: runners}
`, ts.URL, base64.StdEncoding.EncodeToString(ca)))
	return path
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRunCreatesJobThenOwnedSecret(t *testing.T) {
	f := &fakeAPI{answer: func(r recorded) (int, any) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/jobs") {
			var j Job
			json.Unmarshal(r.Body, &j)
			j.Metadata.UID = "job-uid-1"
			return http.StatusCreated, j
		}
		return http.StatusCreated, map[string]any{}
	}}
	cfg, err := FromKubeconfig(tokenKubeconfig(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Namespace != "runners" || strings.HasSuffix(cfg.Host, "/") {
		t.Fatalf("config %+v", cfg)
	}
	ttl, backoff := int32(600), int32(0)
	m := &Manager{Client: NewClient(cfg), Settings: Settings{
		Namespace: "wm", ServiceAccount: "zenml-runner", TTLSecondsAfterFinished: &ttl, BackoffLimit: &backoff,
		Resources:    &Resources{Requests: map[string]string{"cpu": "100m"}, Limits: map[string]string{"memory": "700Mi"}},
		NodeSelector: map[string]string{"pool": "compute"}, Tolerations: []Toleration{{Key: "gpu", Operator: "Exists", Effect: "NoSchedule"}},
	}}
	job, err := m.Run(context.Background(), Workload{ID: "abc-123", Image: "reg.local/enclave:1", Command: []string{"/enclave"},
		Args: []string{"pipeline", "run-snapshot"}, Env: map[string]string{"B": "2", "A": "1"},
		SecretEnv: map[string]string{"TOKEN": "t0k"}, Labels: map[string]string{"x": "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if job.Metadata.UID != "job-uid-1" || job.Metadata.Name != "enclave-workload-abc-123" {
		t.Fatalf("job %+v", job.Metadata)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[0].Path != "/apis/batch/v1/namespaces/wm/jobs" || reqs[1].Path != "/api/v1/namespaces/wm/secrets" {
		t.Fatalf("requests %+v", reqs)
	}
	for _, r := range reqs {
		if r.Auth != "Bearer s3cret" {
			t.Errorf("%s %s sent Authorization %q", r.Method, r.Path, r.Auth)
		}
	}
	var sent Job
	if err := json.Unmarshal(reqs[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	ps := sent.Spec.Template.Spec
	c := ps.Containers[0]
	switch {
	case sent.APIVersion != "batch/v1" || sent.Kind != "Job":
		t.Errorf("type %s %s", sent.APIVersion, sent.Kind)
	case *sent.Spec.TTLSecondsAfterFinished != 600 || *sent.Spec.BackoffLimit != 0:
		t.Errorf("ttl/backoff %+v", sent.Spec)
	case ps.ServiceAccountName != "zenml-runner" || ps.RestartPolicy != "Never" || *ps.AutomountServiceAccountToken:
		t.Errorf("pod spec %+v", ps)
	case ps.NodeSelector["pool"] != "compute" || len(ps.Tolerations) != 1 || ps.Tolerations[0].Key != "gpu":
		t.Errorf("placement %+v %+v", ps.NodeSelector, ps.Tolerations)
	case !*ps.SecurityContext.RunAsNonRoot || *ps.SecurityContext.RunAsUser != 1000:
		t.Errorf("pod security %+v", ps.SecurityContext)
	case !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.AllowPrivilegeEscalation || *c.SecurityContext.RunAsUser != 1000:
		t.Errorf("container security %+v", c.SecurityContext)
	case len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/tmp" || ps.Volumes[0].EmptyDir == nil:
		t.Errorf("volumes %+v %+v", c.VolumeMounts, ps.Volumes)
	case c.Resources.Requests["cpu"] != "100m" || c.Resources.Limits["memory"] != "700Mi":
		t.Errorf("resources %+v", c.Resources)
	case sent.Metadata.Labels["x"] != "y" || sent.Spec.Template.Metadata.Labels["x"] != "y":
		t.Errorf("labels %+v", sent.Metadata.Labels)
	}
	wantEnv := `[{"name":"A","value":"1"},{"name":"B","value":"2"},{"name":"TOKEN","valueFrom":{"secretKeyRef":{"name":"enclave-workload-abc-123","key":"TOKEN"}}}]`
	if b, _ := json.Marshal(c.Env); string(b) != wantEnv {
		t.Errorf("env %s", b)
	}
	if strings.Contains(string(reqs[0].Body), "t0k") {
		t.Error("the secret value is in the Job")
	}
	var sec Secret
	json.Unmarshal(reqs[1].Body, &sec)
	own := sec.Metadata.OwnerReferences
	if sec.StringData["TOKEN"] != "t0k" || len(own) != 1 || own[0].UID != "job-uid-1" || own[0].Kind != "Job" || sec.Metadata.Name != job.Metadata.Name {
		t.Errorf("secret %+v", sec)
	}
}

func TestRunDeletesTheJobWhenItsSecretFails(t *testing.T) {
	f := &fakeAPI{answer: func(r recorded) (int, any) {
		switch {
		case strings.HasSuffix(r.Path, "/secrets"):
			return status(http.StatusForbidden, "Forbidden", `secrets is forbidden: User "runner" cannot create resource "secrets"`)
		case r.Method == http.MethodPost:
			return http.StatusCreated, map[string]any{"metadata": map[string]any{"name": "enclave-workload-w1", "uid": "u1"}}
		}
		return http.StatusOK, map[string]any{}
	}}
	cfg, err := FromKubeconfig(tokenKubeconfig(t, f))
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{Client: NewClient(cfg), Settings: Settings{Namespace: "wm"}}
	_, err = m.Run(context.Background(), Workload{ID: "w1", Image: "i", SecretEnv: map[string]string{"K": "v"}})
	if err == nil || !strings.Contains(err.Error(), "cannot create resource \"secrets\"") {
		t.Fatalf("err %v", err)
	}
	reqs := f.requests()
	last := reqs[len(reqs)-1]
	if len(reqs) != 3 || last.Method != http.MethodDelete || last.Path != "/apis/batch/v1/namespaces/wm/jobs/enclave-workload-w1" ||
		!strings.Contains(string(last.Body), `"propagationPolicy":"Background"`) {
		t.Fatalf("requests %+v", reqs)
	}
}

func TestRunRefusesBadWorkloads(t *testing.T) {
	m := &Manager{Client: NewClient(&Config{Host: "http://127.0.0.1:1"})}
	for _, w := range []Workload{{ID: "Upper", Image: "i"}, {ID: strings.Repeat("a", 47), Image: "i"}, {ID: "ok"}} {
		if _, err := m.Run(context.Background(), w); err == nil {
			t.Errorf("%+v was accepted", w)
		}
	}
}

func TestErrorsAndDeleteOfAMissingJob(t *testing.T) {
	f := &fakeAPI{answer: func(r recorded) (int, any) {
		return status(http.StatusNotFound, "NotFound", `jobs.batch "enclave-workload-x" not found`)
	}}
	cfg, err := FromKubeconfig(tokenKubeconfig(t, f))
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{Client: NewClient(cfg), Settings: Settings{Namespace: "wm"}}
	_, err = m.Job(context.Background(), "x")
	if !IsNotFound(err) || !strings.Contains(err.Error(), `"enclave-workload-x" not found`) {
		t.Fatalf("get: %v", err)
	}
	if err := m.DeleteWorkload(context.Background(), "x"); err != nil {
		t.Fatalf("delete of a missing Job: %v", err)
	}
}

func TestGetLogsOfEveryPod(t *testing.T) {
	f := &fakeAPI{answer: func(r recorded) (int, any) {
		switch {
		case r.Path == "/api/v1/namespaces/wm/pods":
			return http.StatusOK, map[string]any{"items": []any{
				map[string]any{"metadata": map[string]any{"name": "p2", "creationTimestamp": "2025-01-01T00:00:02Z"}, "status": map[string]any{"phase": "Failed"}},
				map[string]any{"metadata": map[string]any{"name": "p1", "creationTimestamp": "2025-01-01T00:00:01Z"}, "status": map[string]any{"phase": "Failed"}},
			}}
		case strings.HasSuffix(r.Path, "/pods/p1/log"):
			return http.StatusOK, "first try\n"
		}
		return status(http.StatusBadRequest, "BadRequest", "container runner is waiting to start")
	}}
	cfg, err := FromKubeconfig(tokenKubeconfig(t, f))
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{Client: NewClient(cfg), Settings: Settings{Namespace: "wm"}}
	out, err := m.GetLogs(context.Background(), "w1")
	if err != nil {
		t.Fatal(err)
	}
	want := "--- pod p1 (Failed) ---\nfirst try\n--- pod p2 (Failed) ---\n(no log: kubernetes: 400 BadRequest: container runner is waiting to start)\n"
	if out != want {
		t.Fatalf("logs:\n%s\nwant:\n%s", out, want)
	}
	reqs := f.requests()
	if reqs[0].Query != "labelSelector=job-name%3Denclave-workload-w1" || !strings.Contains(reqs[1].Query, "container=runner") {
		t.Fatalf("queries %q %q", reqs[0].Query, reqs[1].Query)
	}
}

func TestJobFinished(t *testing.T) {
	for _, tc := range []struct {
		conds          []JobCondition
		done, failed   bool
		reasonContains string
	}{
		{nil, false, false, ""},
		{[]JobCondition{{Type: "Suspended", Status: "True"}}, false, false, ""},
		{[]JobCondition{{Type: "Complete", Status: "True"}}, true, false, ""},
		{[]JobCondition{{Type: "Failed", Status: "False"}}, false, false, ""},
		{[]JobCondition{{Type: "Failed", Status: "True", Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}, true, true, "BackoffLimitExceeded: Job has"},
	} {
		j := &Job{Status: JobStatus{Conditions: tc.conds}}
		done, failed, reason := j.Finished()
		if done != tc.done || failed != tc.failed || !strings.Contains(reason, tc.reasonContains) {
			t.Errorf("%+v: %v %v %q", tc.conds, done, failed, reason)
		}
	}
}

// certs makes a CA and a certificate it signs for 127.0.0.1 (server) or a
// client, all PEM.
func certs(t *testing.T) (caPEM, srvCert, srvKey, cliCert, cliKey []byte) {
	t.Helper()
	key := func() (*ecdsa.PrivateKey, []byte) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalECPrivateKey(k)
		return k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	caKey, _ := key()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage, ip bool) ([]byte, []byte) {
		k, kp := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		if ip {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), kp
	}
	srvCert, srvKey = leaf(2, x509.ExtKeyUsageServerAuth, true)
	cliCert, cliKey = leaf(3, x509.ExtKeyUsageClientAuth, false)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), srvCert, srvKey, cliCert, cliKey
}

func TestKubeconfigWithClientCertificateFiles(t *testing.T) {
	caPEM, srvCert, srvKey, cliCert, cliKey := certs(t)
	pair, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	var sawCert bool
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawCert = len(r.TLS.PeerCertificates) == 1
		w.Write([]byte(`{"metadata":{"name":"enclave-workload-j"},"status":{"conditions":[{"type":"Complete","status":"True"}]}}`))
	}))
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	ts.StartTLS()
	defer ts.Close()

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ca.pem"), string(caPEM))
	writeFile(t, filepath.Join(dir, "client.pem"), string(cliCert))
	writeFile(t, filepath.Join(dir, "client-key.pem"), string(cliKey))
	kc := filepath.Join(dir, "config")
	writeFile(t, kc, fmt.Sprintf(`clusters:
- name: c
  cluster: {server: %q, certificate-authority: ca.pem}
users:
- name: u
  user: {client-certificate: client.pem, client-key: %q}
contexts:
- name: only
  context: {cluster: c, user: u}
`, ts.URL, filepath.Join(dir, "client-key.pem")))
	cfg, err := Load(kc)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Namespace != "default" {
		t.Errorf("namespace %q", cfg.Namespace)
	}
	j, err := NewClient(cfg).GetJob(context.Background(), "ns", "enclave-workload-j")
	if err != nil {
		t.Fatal(err)
	}
	if done, _, _ := j.Finished(); !done || !sawCert {
		t.Fatalf("job %+v, client certificate seen %v", j, sawCert)
	}
	// Without the client certificate the server refuses the handshake.
	writeFile(t, kc, fmt.Sprintf("clusters: [{name: c, cluster: {server: %q, certificate-authority: ca.pem}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: only, context: {cluster: c, user: u}}]\n", ts.URL))
	if cfg, err = Load(kc); err != nil {
		t.Fatal(err)
	}
	if _, err := NewClient(cfg).GetJob(context.Background(), "ns", "j"); err == nil {
		t.Fatal("a request without the client certificate was answered")
	}
}

func TestKubeconfigProblems(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ content, want string }{
		"exec plugin":    {"clusters: [{name: c, cluster: {server: https://x}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\ncontexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n", "plugin"},
		"no context":     {"clusters: []\ncontexts: [{name: a, context: {}}]\ncurrent-context: b\n", `no context "b"`},
		"no server":      {"clusters: [{name: c, cluster: {}}]\ncontexts: [{name: a, context: {cluster: c}}]\n", "has no server"},
		"bad CA":         {"clusters: [{name: c, cluster: {server: https://x, certificate-authority-data: bm90IGEgY2VydA==}}]\ncontexts: [{name: a, context: {cluster: c}}]\n", "no PEM certificate"},
		"missing CA":     {"clusters: [{name: c, cluster: {server: https://x, certificate-authority: nope.pem}}]\ncontexts: [{name: a, context: {cluster: c}}]\n", "nope.pem"},
		"not yaml":       {"clusters: [", "kubeconfig"},
		"half a keypair": {"clusters: [{name: c, cluster: {server: https://x}}]\nusers: [{name: u, user: {client-certificate-data: eA==}}]\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n", "client certificate"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		writeFile(t, p, tc.content)
		if _, err := FromKubeconfig(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "absent")); err == nil {
		t.Error("a missing kubeconfig was accepted")
	}
}

func TestInClusterRereadsTheRotatedToken(t *testing.T) {
	f := &fakeAPI{answer: func(r recorded) (int, any) { return http.StatusOK, map[string]any{"items": []any{}} }}
	ts := httptest.NewTLSServer(f)
	defer ts.Close()
	dir := t.TempDir()
	old := serviceAccountDir
	serviceAccountDir = dir
	defer func() { serviceAccountDir = old }()
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if _, err := InCluster(getenv); err != ErrNoConfig {
		t.Fatalf("outside a cluster: %v", err)
	}
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "https://"))
	env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"] = host, port
	if _, err := InCluster(getenv); err == nil {
		t.Fatal("accepted without a token file")
	}
	writeFile(t, filepath.Join(dir, "token"), "first\n")
	writeFile(t, filepath.Join(dir, "ca.crt"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})))
	writeFile(t, filepath.Join(dir, "namespace"), "zenml\n")
	cfg, err := InCluster(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Namespace != "zenml" || cfg.Host != ts.URL {
		t.Fatalf("config %+v", cfg)
	}
	c := NewClient(cfg)
	if _, err := c.ListJobs(context.Background(), "zenml", "a=b"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "token"), "second")
	if _, err := c.ListPods(context.Background(), "zenml", "a=b"); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if reqs[0].Auth != "Bearer first" || reqs[1].Auth != "Bearer second" || reqs[0].Query != "labelSelector=a%3Db" {
		t.Fatalf("requests %+v", reqs)
	}
}
