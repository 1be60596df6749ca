package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/uptest"
	"github.com/enclave-mlops/enclave/internal/version"
)

// doctorCA is a certificate authority made for one test.
type doctorCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func doctorNewCA(t *testing.T, name string) *doctorCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &doctorCA{cert: cert, key: key, file: file}
}

// serve serves h on loopback with a certificate for localhost valid from
// notBefore to notAfter, and returns https://localhost:port.
func (ca *doctorCA) serve(t *testing.T, h http.Handler, notBefore, notAfter time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h)
	// The doctor's TCP check connects and hangs up without a handshake.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	return "https://localhost:" + port
}

// doctorLine finds the report line of check name on target.
func doctorLine(t *testing.T, out, status, name, target string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == status && f[1] == name && strings.Contains(f[2], target) {
			return l
		}
	}
	t.Fatalf("no line %q %q %q in:\n%s", status, name, target, out)
	return ""
}

// doctorStartUp runs `enclave up` on free ports and returns the control
// plane's and the workspace's URLs and the admin password. It stops it, with
// an interrupt as a person would, when t ends.
func doctorStartUp(t *testing.T, bin string) (cpURL, wsURL, password string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bin, "up", "--data-dir", filepath.Join(dir, "data"), "--port", "0", "--workspace-port", "0")
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(filepath.Join(dir, "up.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		for range lines {
		}
		if err := <-done; err != nil {
			t.Errorf("enclave up ended with %v", err)
		}
		logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("enclave up logged:\n%s", b)
		}
	})
	cpLine := regexp.MustCompile(`Control plane and dashboard\s+(http://\S+)`)
	wsLine := regexp.MustCompile(`Workspace "default"\s+(http://\S+)`)
	timeout := time.After(2 * time.Minute)
	for cpURL == "" || wsURL == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("enclave up ended before it was up")
			}
			if m := cpLine.FindStringSubmatch(l); m != nil {
				cpURL = m[1]
			}
			if m := wsLine.FindStringSubmatch(l); m != nil {
				wsURL = m[1]
			}
		case <-timeout:
			t.Fatal("enclave up did not say where it serves")
		}
	}
	go func() { // keep draining so that up never blocks on its output
		for range lines {
		}
	}()
	var st struct {
		AdminPassword string `json:"admin_password"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "data", "up.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return cpURL, wsURL, st.AdminPassword
}

// doctorWaitReported waits until the control plane has a status report from
// every workspace, as a healthy deployment has shortly after it starts.
func doctorWaitReported(t *testing.T, cpURL, password string) {
	t.Helper()
	ctx := context.Background()
	cp := client.NewControlPlane(cpURL, "", nil)
	if err := cp.Login(ctx, "admin", password); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ws, err := cp.ListWorkspaces(ctx, "", "")
		if err != nil {
			t.Fatal(err)
		}
		reported := len(ws) > 0
		for _, w := range ws {
			reported = reported && w.Status.LastSeen != nil
		}
		if reported {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the workspaces never reported: %+v", ws)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// doctorVersionDouble stands in for a workspace server only to answer with a
// version of the test's choosing, which no real server can be made to do:
// /health and /api/v1/info, as a workspace server answers them.
func doctorVersionDouble(t *testing.T, ver, workspaceID, cpURL string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `"OK"`) })
	mux.HandleFunc("GET /api/v1/info", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(client.ServerInfo{
			Version: ver, DeploymentType: "cloud", DatabaseType: "sqlite", ProAPIURL: cpURL + "/api/v1",
			ProOrganizationName: "acme", ProWorkspaceID: workspaceID, ProWorkspaceName: "ahead",
		})
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestDoctorCommand(t *testing.T) {
	bin := uptest.BuildEnclave(t)

	t.Run("healthy enclave up", func(t *testing.T) {
		cpURL, wsURL, password := doctorStartUp(t, bin)
		doctorWaitReported(t, cpURL, password)
		pwFile := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := enrollRun(t, bin, t.TempDir(), "", nil, "doctor", "--controlplane", cpURL, "--workspace", wsURL, "--password-file", pwFile)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if !strings.HasPrefix(l, "ok ") {
				t.Errorf("not ok: %s", l)
			}
		}
		doctorLine(t, r.stdout, "ok", "health", cpURL)
		doctorLine(t, r.stdout, "ok", "version", cpURL)
		doctorLine(t, r.stdout, "ok", "login", "admin")
		doctorLine(t, r.stdout, "ok", "enrollment", "default/default")
		doctorLine(t, r.stdout, "ok", "health", wsURL)
		doctorLine(t, r.stdout, "ok", "info", wsURL)
		doctorLine(t, r.stdout, "ok", "enrollment", wsURL)
		doctorLine(t, r.stdout, "ok", "skew", wsURL)

		// The same as JSON.
		r = enrollRun(t, bin, t.TempDir(), "", []string{"ENCLAVE_PASSWORD=" + password}, "doctor", "--controlplane", cpURL, "--workspace", wsURL, "--json")
		var rep struct {
			OK     bool `json:"ok"`
			Checks []struct{ Name, Target, Status, Detail string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || !rep.OK || len(rep.Checks) < 10 {
			t.Fatalf("exit %d, %v:\n%s", r.code, err, r.stdout)
		}
	})

	t.Run("tls", func(t *testing.T) {
		cp := enrollControlPlaneHandler(t).Handler()
		ca := doctorNewCA(t, "Enclave Internal CA")
		other := doctorNewCA(t, "Some Other CA")
		now, day := time.Now(), 24*time.Hour
		for _, tc := range []struct {
			name     string
			ca       *doctorCA
			from, to time.Time
			code     int
			status   string
			detail   string
		}{
			{"valid", ca, now.Add(-day), now.Add(365 * day), 0, "ok", "trusted by " + ca.file},
			{"expires soon", ca, now.Add(-day), now.Add(7 * day), 0, "warn", "fewer than 30 days left"},
			{"expired", ca, now.Add(-90 * day), now.Add(-day), 1, "FAIL", "expired"},
			{"wrong CA", other, now.Add(-day), now.Add(365 * day), 1, "FAIL", "unknown authority CN=Some Other CA: not the CA in " + ca.file},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u := tc.ca.serve(t, cp, tc.from, tc.to)
				r := enrollRun(t, bin, t.TempDir(), "", nil, "doctor", "--controlplane", u, "--ca-file", ca.file)
				if r.code != tc.code {
					t.Fatalf("exit %d, want %d:\n%s%s", r.code, tc.code, r.stdout, r.stderr)
				}
				if l := doctorLine(t, r.stdout, tc.status, "tls", "localhost"); !strings.Contains(l, tc.detail) {
					t.Errorf("line %q lacks %q", l, tc.detail)
				}
				doctorLine(t, r.stdout, "ok", "dns", "localhost")
			})
		}
	})

	t.Run("stopped workspace", func(t *testing.T) {
		cpURL, _ := enrollStartControlPlane(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		stopped := "http://" + ln.Addr().String()
		ln.Close()
		r := enrollRun(t, bin, t.TempDir(), "", nil, "doctor", "--controlplane", cpURL, "--workspace", stopped)
		if r.code != 1 {
			t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		doctorLine(t, r.stdout, "ok", "health", cpURL)
		if l := doctorLine(t, r.stdout, "FAIL", "tcp", ln.Addr().String()); !strings.Contains(l, "connection refused") {
			t.Errorf("line %q", l)
		}
		doctorLine(t, r.stdout, "skip", "health", stopped)
	})

	t.Run("newer workspace", func(t *testing.T) {
		cpURL, cp := enrollStartControlPlane(t)
		ctx := context.Background()
		org, err := cp.CreateOrganization(ctx, "acme", "")
		if err != nil {
			t.Fatal(err)
		}
		ws, err := cp.CreateWorkspace(ctx, org.ID, "ahead", true)
		if err != nil {
			t.Fatal(err)
		}
		newer := doctorVersionDouble(t, "99.0.0", ws.ID, cpURL)
		same := doctorVersionDouble(t, version.Version, ws.ID, cpURL)
		env := []string{"ENCLAVE_PASSWORD=" + enrollAdminPassword}

		r := enrollRun(t, bin, t.TempDir(), "", env, "doctor", "--controlplane", cpURL, "--workspace", same)
		if r.code != 0 {
			t.Fatalf("same version: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		doctorLine(t, r.stdout, "ok", "skew", same)
		doctorLine(t, r.stdout, "warn", "enrollment", "acme/ahead") // enrolled, never reported

		r = enrollRun(t, bin, t.TempDir(), "", env, "doctor", "--controlplane", cpURL, "--workspace", newer)
		if r.code != 1 {
			t.Fatalf("newer version: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		if l := doctorLine(t, r.stdout, "FAIL", "skew", newer); !strings.Contains(l, "running 99.0.0, newer than "+version.Version+" (the control plane)") {
			t.Errorf("line %q", l)
		}
		doctorLine(t, r.stdout, "ok", "enrollment", newer)
	})

	t.Run("bad flags", func(t *testing.T) {
		for _, args := range [][]string{
			{"doctor"},
			{"doctor", "--controlplane", "cp.example.com"},
			{"doctor", "--controlplane", "http://127.0.0.1:1", "--ca-file", "/nonexistent.pem"},
		} {
			r := enrollRun(t, bin, t.TempDir(), "", nil, args...)
			if r.code != 1 || r.stderr == "" || r.stdout != "" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
			}
		}
	})
}
