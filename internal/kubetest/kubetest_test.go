package kubetest_test

import (
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/internal/kubetest"
)

// A Job's pod runs to completion and a Deployment rolls out: the cluster is usable
// by the tests that build on it.
func TestClusterRunsJobsAndDeployments(t *testing.T) {
	c := kubetest.Start(t)

	c.Kubectl(t, "create", "namespace", "smoke")
	c.Kubectl(t, "-n", "smoke", "create", "job", "once", "--image=example.invalid/none:1")
	c.Kubectl(t, "-n", "smoke", "wait", "--for=condition=Complete", "job/once", "--timeout=90s")
	if got := c.Kubectl(t, "-n", "smoke", "get", "job", "once", "-o", "jsonpath={.status.succeeded}"); got != "1" {
		t.Fatalf("job succeeded = %q, want 1", got)
	}

	c.Kubectl(t, "-n", "smoke", "create", "deployment", "web", "--image=example.invalid/none:1", "--replicas=2")
	c.Kubectl(t, "-n", "smoke", "rollout", "status", "deployment/web", "--timeout=90s")
	if got := c.Kubectl(t, "-n", "smoke", "get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}"); got != "2" {
		t.Fatalf("ready replicas = %q, want 2", got)
	}
	pods := c.Kubectl(t, "-n", "smoke", "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.nodeName}")
	if n := strings.Count(pods, kubetest.NodeName); n != 2 {
		t.Fatalf("pods on %s: %q", kubetest.NodeName, pods)
	}

	// RBAC is enforced: a ServiceAccount without a binding may not list pods.
	c.Kubectl(t, "-n", "smoke", "create", "serviceaccount", "nobody")
	if out, _ := c.RunKubectl("auth", "can-i", "list", "pods", "-n", "smoke", "--as=system:serviceaccount:smoke:nobody"); strings.TrimSpace(out) != "no" {
		t.Fatalf("can-i list pods as nobody = %q, want no", out)
	}
}
