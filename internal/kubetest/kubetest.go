// Package kubetest gives a test a real Kubernetes control plane: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler on loopback, and kwok
// playing one node, so that pods are scheduled and become Ready, Jobs complete and
// Deployments roll out. No container runs: kwok only writes pod status.
//
// Tests that need a cluster call Start. The binaries come from scripts/kube.sh
// (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl in
// $ENCLAVE_KUBE_BIN, default $ENCLAVE_CACHE/kube/bin), scripts/tools.sh (kwok in
// $ENCLAVE_CACHE/bin or on PATH) and Debian's etcd-server (etcd on PATH). When one
// is missing the test is skipped, or fails when ENCLAVE_REQUIRE_SERVICES=1.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NodeName is the name of the one fake node that kwok manages.
const NodeName = "kwok-node-0"

//go:embed kwok-stages.yaml
var kwokStages []byte

// startTimeout bounds how long the control plane may take to become usable.
const startTimeout = 2 * time.Minute

// Cluster is a running control plane. Its fields are read-only.
type Cluster struct {
	// Kubeconfig is the path of a kubeconfig with cluster-admin rights.
	Kubeconfig string
	// Server is the apiserver's URL, https://127.0.0.1:<port>.
	Server string
	// BinDir holds kubectl and the control plane binaries.
	BinDir string

	dir    string
	token  string
	client *http.Client
	procs  []*proc
}

// Start starts a control plane for t and stops it when t and its subtests end.
// It returns once the apiserver answers, the fake node is Ready and the default
// ServiceAccount exists, so pods can be created right away. A cluster takes a few
// seconds to start; tests in one package may share one by calling Start from a
// parent test.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bins, err := findBinaries()
	if err != nil {
		if os.Getenv("ENCLAVE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("kubetest: %v", err)
		}
		t.Skipf("kubetest: %v (run scripts/kube.sh kube_install, or set ENCLAVE_REQUIRE_SERVICES=1 to fail)", err)
	}
	// The ports are free when picked but may be taken before the components bind
	// them; a component that exits at start gets another try on fresh ports.
	for attempt := 0; attempt < 3; attempt++ {
		c := &Cluster{BinDir: filepath.Dir(bins["kubectl"]), dir: t.TempDir()}
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		err = c.start(ctx, bins)
		cancel()
		if err == nil {
			t.Cleanup(func() {
				if t.Failed() {
					c.dumpLogs(t)
				}
				c.stop()
			})
			return c
		}
		if !errors.Is(err, errExited) || attempt == 2 {
			c.dumpLogs(t)
			c.stop()
			t.Fatalf("kubetest: %v", err)
		}
		c.stop()
	}
	panic("unreachable")
}

// errExited marks a component that ended while the cluster was starting.
var errExited = errors.New("exited")

// Env is os.Environ with KUBECONFIG pointing at the cluster, for child processes
// such as helm or kubectl.
func (c *Cluster) Env() []string {
	return append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
}

// Kubectl runs kubectl against the cluster and returns its standard output. It
// fails t when kubectl fails.
func (c *Cluster) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.RunKubectl(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// RunKubectl runs kubectl against the cluster. The error carries kubectl's
// standard error.
func (c *Cluster) RunKubectl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.BinDir, "kubectl"), args...)
	cmd.Env = c.Env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// findBinaries locates every program the cluster needs, by name.
func findBinaries() (map[string]string, error) {
	cache := os.Getenv("ENCLAVE_CACHE")
	if cache == "" {
		cache = "/var/cache/enclave"
	}
	kubeBin := os.Getenv("ENCLAVE_KUBE_BIN")
	if kubeBin == "" {
		kubeBin = filepath.Join(cache, "kube", "bin")
	}
	bins := map[string]string{}
	var missing []string
	for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"} {
		p := filepath.Join(kubeBin, name)
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, p)
			continue
		}
		bins[name] = p
	}
	for name, fallback := range map[string]string{"etcd": "/usr/bin/etcd", "kwok": filepath.Join(cache, "bin", "kwok")} {
		if p, err := exec.LookPath(name); err == nil {
			bins[name] = p
		} else if _, err := os.Stat(fallback); err == nil {
			bins[name] = fallback
		} else {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	return bins, nil
}

func (c *Cluster) start(ctx context.Context, bins map[string]string) error {
	pki, err := writePKI(c.dir)
	if err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	c.Server = fmt.Sprintf("https://127.0.0.1:%d", ports[2])

	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	c.token = hex.EncodeToString(tok)
	tokens := filepath.Join(c.dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(c.token+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(c.dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, []byte(kubeconfig(c.Server, pki.caFile, c.token)), 0o600); err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(pki.ca)
	c.client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		Timeout:   10 * time.Second,
	}

	if err := c.run("etcd", bins["etcd"],
		"--name=kubetest", "--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL, "--logger=zap", "--log-level=warn",
	); err != nil {
		return err
	}
	if err := c.run("kube-apiserver", bins["kube-apiserver"],
		"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", ports[2]), "--endpoint-reconciler-type=none",
		"--tls-cert-file="+pki.serverCert, "--tls-private-key-file="+pki.serverKey,
		"--cert-dir="+filepath.Join(c.dir, "apiserver-certs"),
		"--token-auth-file="+tokens, "--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki.saPub, "--service-account-signing-key-file="+pki.saKey,
		"--service-cluster-ip-range=10.96.0.0/16", "--enable-priority-and-fairness=false",
		// Debian's etcd 3.4 lacks watch progress requests, so the watch cache refuses
		// the streaming lists of newer clients (kwok's); their watches then restart
		// with growing back-off and pods wait tens of seconds. Without the cache,
		// watches go to etcd directly.
		"--watch-cache=false",
	); err != nil {
		return err
	}
	if err := c.waitFor(ctx, "the apiserver", func() (bool, error) {
		code, _, err := c.get(ctx, "/readyz")
		return err == nil && code == http.StatusOK, nil
	}); err != nil {
		return err
	}
	if err := c.run("kube-controller-manager", bins["kube-controller-manager"],
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--service-account-private-key-file="+pki.saKey, "--root-ca-file="+pki.caFile,
	); err != nil {
		return err
	}
	if err := c.run("kube-scheduler", bins["kube-scheduler"],
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0",
	); err != nil {
		return err
	}
	// kwok's stages: the node turns Ready (its Lease keeps it so), pods turn Running
	// and Ready, pods owned by Jobs complete, deleted pods go.
	stages := filepath.Join(c.dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o600); err != nil {
		return err
	}
	if err := c.run("kwok", bins["kwok"],
		"--kubeconfig="+c.Kubeconfig, "--config="+stages, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-lease-duration-seconds=40",
		"--cidr=10.244.0.0/16", "--node-ip=10.0.0.1",
	); err != nil {
		return err
	}
	if err := c.createNode(ctx); err != nil {
		return err
	}
	if err := c.waitFor(ctx, "node "+NodeName+" to be Ready", c.nodeReady(ctx)); err != nil {
		return err
	}
	return c.waitFor(ctx, "the default ServiceAccount", func() (bool, error) {
		code, _, err := c.get(ctx, "/api/v1/namespaces/default/serviceaccounts/default")
		return err == nil && code == http.StatusOK, nil
	})
}

func kubeconfig(server, caFile, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: kubetest
  context:
    cluster: kubetest
    user: admin
    namespace: default
current-context: kubetest
`, server, caFile, token)
}

// proc is one component of the cluster.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func (c *Cluster) run(name, bin string, args ...string) error {
	logPath := filepath.Join(c.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// The kernel kills the component when the test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	return nil
}

// stop ends the components in reverse order of their start.
func (c *Cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	c.procs = nil
}

// dumpLogs shows the end of each component's log when a test failed.
func (c *Cluster) dumpLogs(t testing.TB) {
	for _, p := range c.procs {
		b, err := os.ReadFile(p.log)
		if err != nil {
			continue
		}
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		t.Logf("--- %s log (end) ---\n%s", p.name, b)
	}
}

// waitFor polls cond until it holds, a component exits, or ctx ends.
func (c *Cluster) waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		for _, p := range c.procs {
			select {
			case <-p.done:
				b, _ := os.ReadFile(p.log)
				if len(b) > 2000 {
					b = b[len(b)-2000:]
				}
				return fmt.Errorf("waiting for %s: %s %w (%v):\n%s", what, p.name, errExited, p.err, b)
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

func (c *Cluster) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Server+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (c *Cluster) get(ctx context.Context, path string) (int, []byte, error) {
	return c.do(ctx, http.MethodGet, path, nil)
}

// createNode registers the fake node that kwok takes over.
func (c *Cluster) createNode(ctx context.Context) error {
	capacity := map[string]string{"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}
	node := map[string]any{
		"apiVersion": "v1",
		"kind":       "Node",
		"metadata": map[string]any{
			"name":        NodeName,
			"annotations": map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			"labels": map[string]string{
				"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux",
				"kubernetes.io/arch": "amd64", "type": "kwok",
			},
		},
		"status": map[string]any{"capacity": capacity, "allocatable": capacity},
	}
	b, err := json.Marshal(node)
	if err != nil {
		return err
	}
	code, resp, err := c.do(ctx, http.MethodPost, "/api/v1/nodes", b)
	if err != nil {
		return fmt.Errorf("create node: %w", err)
	}
	if code != http.StatusCreated {
		return fmt.Errorf("create node: %d %s", code, resp)
	}
	return nil
}

func (c *Cluster) nodeReady(ctx context.Context) func() (bool, error) {
	return func() (bool, error) {
		code, b, err := c.get(ctx, "/api/v1/nodes/"+NodeName)
		if err != nil || code != http.StatusOK {
			return false, nil
		}
		var n struct {
			Status struct {
				Conditions []struct{ Type, Status string }
			}
		}
		if err := json.Unmarshal(b, &n); err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == "True" {
				return true, nil
			}
		}
		return false, nil
	}
}

// freePorts asks the kernel for n unused loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
