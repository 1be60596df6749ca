// Package e2e drives the enclave binary as an operator would, against real
// servers started by the tests.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/controlplane"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
)

// The helpers here serve enroll_test.go and doctor_test.go; their names carry
// the prefix enroll so they cannot clash with other tests of this package.

const enrollAdminPassword = "e2e-admin-password"

// enrollStartControlPlane runs a real control plane on SQLite over loopback
// HTTP and returns its URL and an administrator's client.
func enrollStartControlPlane(t *testing.T) (string, *client.ControlPlane) {
	t.Helper()
	ts := httptest.NewServer(enrollControlPlaneHandler(t).Handler())
	t.Cleanup(ts.Close)
	cp := client.NewControlPlane(ts.URL, "", nil)
	if err := cp.Login(context.Background(), "admin", enrollAdminPassword); err != nil {
		t.Fatal(err)
	}
	return ts.URL, cp
}

func enrollControlPlaneHandler(t *testing.T) *controlplane.Server {
	t.Helper()
	srv, err := controlplane.New(context.Background(), controlplane.Config{
		Listen: "127.0.0.1:0", DatabaseURL: sqldbtest.URL(t, "sqlite"),
		AdminUsername: "admin", AdminPassword: enrollAdminPassword,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// enrollResult is how a run of the binary ended.
type enrollResult struct {
	stdout, stderr string
	code           int
}

// enrollRun runs the binary without a terminal, stdin from stdin.
func enrollRun(t *testing.T, bin, dir, stdin string, env []string, args ...string) enrollResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return enrollResult{stdout.String(), stderr.String(), code}
}

// enrollTerminal drives the binary on a pseudo-terminal as a person would: it
// waits for each question and types the answer.
type enrollTerminal struct {
	t      *testing.T
	cmd    *exec.Cmd
	tty    *os.File
	mu     sync.Mutex
	all    strings.Builder // everything printed
	since  strings.Builder // printed since the last answer
	notify chan struct{}
	done   chan error
}

func enrollStartTerminal(t *testing.T, bin, dir string, args ...string) *enrollTerminal {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	s := &enrollTerminal{t: t, cmd: cmd, tty: tty, notify: make(chan struct{}, 1), done: make(chan error, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			if n > 0 {
				s.mu.Lock()
				s.all.Write(buf[:n])
				s.since.Write(buf[:n])
				s.mu.Unlock()
				select {
				case s.notify <- struct{}{}:
				default:
				}
			}
			if err != nil {
				break
			}
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		tty.Close()
	})
	return s
}

func (s *enrollTerminal) text(b *strings.Builder) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.ReplaceAll(b.String(), "\r\n", "\n")
}

// expect waits until the output since the last answer holds want, then types
// answer and Enter.
func (s *enrollTerminal) expect(want, answer string) {
	s.t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(s.text(&s.since), want) {
		select {
		case <-s.notify:
		case <-deadline:
			s.t.Fatalf("waited for %q; the command printed:\n%s", want, s.text(&s.all))
		}
	}
	s.mu.Lock()
	s.since.Reset()
	s.mu.Unlock()
	if _, err := io.WriteString(s.tty, answer+"\n"); err != nil {
		s.t.Fatal(err)
	}
}

// wait waits for the command to end and returns all it printed and its exit
// code.
func (s *enrollTerminal) wait() (string, int) {
	s.t.Helper()
	select {
	case err := <-s.done:
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			s.t.Fatal(err)
		}
		return s.text(&s.all), code
	case <-time.After(60 * time.Second):
		s.t.Fatalf("the command did not end; it printed:\n%s", s.text(&s.all))
	}
	return "", -1
}

// enrollHelm runs the real helm with its own folders, against kubeconfig
// (empty: no cluster at all).
type enrollHelm struct {
	bin string
	env []string
}

func enrollNewHelm(t *testing.T, kubeconfig string) *enrollHelm {
	t.Helper()
	bin, err := exec.LookPath("helm")
	if err != nil {
		cache := os.Getenv("ENCLAVE_CACHE")
		if cache == "" {
			cache = "/var/cache/enclave"
		}
		bin = filepath.Join(cache, "bin", "helm")
		if _, err := os.Stat(bin); err != nil {
			if sqldbtest.Required() {
				t.Fatalf("helm not found on PATH or at %s", bin)
			}
			t.Skipf("helm not found on PATH or at %s (scripts/tools.sh builds it)", bin)
		}
	}
	home := t.TempDir()
	if kubeconfig == "" {
		kubeconfig = filepath.Join(home, "no-kubeconfig")
	}
	return &enrollHelm{bin: bin, env: append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+kubeconfig,
	)}
}

func (h *enrollHelm) must(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String()))
	}
	return stdout.String()
}
