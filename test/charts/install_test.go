package charts_test

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/internal/kubetest"
)

// TestInstallUpgradeUninstall installs both charts with the seed's values into a
// real control plane, where kwok plays the node: the migration hook Job runs to
// completion before the server, the Deployment becomes Ready, an upgrade keeps the
// generated keys, an uninstall removes the release but keeps its keys, and a
// reinstall finds them again.
func TestInstallUpgradeUninstall(t *testing.T) {
	c := kubetest.Start(t)
	h := newHelm(t, c.Kubeconfig)

	t.Run("controlplane", func(t *testing.T) {
		lifecycle(t, c, h, "zenml-pro", "zenml-pro", controlplaneChart, seedControlplaneValues, nil)
	})
	t.Run("workspace", func(t *testing.T) {
		enrolled, values := enrolledValues(t)
		lifecycle(t, c, h, "zenml", "zenml-workspace", workspaceChart, seedWorkspaceValues, func(t *testing.T, keys map[string]string) {
			// The seed's next step: upgrade with the values file of the enrollment
			// script, which brings its own encryption key.
			h.must(t, "upgrade", "zenml", workspaceChart, "-n", "zenml-workspace", "--values", enrolled, "--wait", "--timeout", "3m")
			checkHookSucceeded(t, c, h, "zenml", "zenml-workspace", "zenml-migrate", 3)
			checkReady(t, c, "zenml-workspace", "zenml", 1)
			got := secretData(t, c, "zenml-workspace", "zenml-keys")
			if got["encryption-key"] != lookup(t, values, "zenml", "secretsStore", "sql", "encryptionKey") {
				t.Errorf("encryption key %q is not the enrolled one", got["encryption-key"])
			}
			if got["jwt-secret-key"] != keys["jwt-secret-key"] {
				t.Error("the JWT key changed with the enrolled values")
			}
			url := secretData(t, c, "zenml-workspace", "zenml")["store-url"]
			if !strings.HasPrefix(url, "mysql://root:password@mysql.example.com:3306/zenml") {
				t.Errorf("store-url %q", url)
			}
		})
	})
	t.Run("workload manager RBAC", func(t *testing.T) {
		c.Kubectl(t, "create", "namespace", "wm")
		c.Kubectl(t, "create", "namespace", "zenml-workload-manager")
		h.must(t, "install", "ws", workspaceChart, "-n", "wm", "--values", "testdata/features-values.yaml", "--wait", "--timeout", "3m")
		// The apiserver took the autoscaler and the disruption budget; the autoscaler
		// may be scaling the Deployment already, so its replicas are not checked here.
		c.Kubectl(t, "-n", "wm", "get", "horizontalpodautoscaler/ws", "poddisruptionbudget/ws", "configmap/ws-ca")
		for _, tc := range []struct {
			as, verb, resource, ns, want string
		}{
			{"wm:ws", "create", "jobs.batch", "zenml-workload-manager", "yes"},
			{"wm:ws", "delete", "jobs.batch", "zenml-workload-manager", "yes"},
			{"wm:ws", "list", "pods", "zenml-workload-manager", "yes"},
			{"wm:ws", "get", "pods --subresource=log", "zenml-workload-manager", "yes"},
			{"zenml-workload-manager:zenml-runner", "create", "jobs.batch", "zenml-workload-manager", "yes"},
			{"zenml-workload-manager:zenml-runner", "get", "pods --subresource=log", "zenml-workload-manager", "yes"},
			{"wm:ws", "delete", "pods", "zenml-workload-manager", "no"},
			{"wm:ws", "create", "secrets", "zenml-workload-manager", "yes"},
			{"wm:ws", "get", "secrets", "zenml-workload-manager", "no"},
			{"wm:ws", "create", "jobs.batch", "wm", "no"},
		} {
			args := append([]string{"auth", "can-i", tc.verb}, strings.Fields(tc.resource)...)
			out, _ := c.RunKubectl(append(args, "-n", tc.ns, "--as=system:serviceaccount:"+tc.as)...)
			if got := strings.TrimSpace(out); got != tc.want {
				t.Errorf("%s may %s %s in %s: %q, want %q", tc.as, tc.verb, tc.resource, tc.ns, got, tc.want)
			}
		}
		h.must(t, "uninstall", "ws", "-n", "wm", "--wait", "--timeout", "3m")
		if _, err := c.RunKubectl("-n", "zenml-workload-manager", "get", "role", "ws-workload-manager"); err == nil {
			t.Error("the workload manager's Role outlived the release")
		}
	})
	t.Run("schema", func(t *testing.T) {
		c.Kubectl(t, "create", "namespace", "typo")
		for _, tc := range schemaCases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := h.run("install", "typo", tc.chart, "-n", "typo", "--values", writeFile(t, "values.yaml", tc.values))
				if err == nil {
					t.Fatalf("helm install accepted:\n%s", tc.values)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("the error does not name %s:\n%v", w, err)
					}
				}
				if _, err := h.run("status", "typo", "-n", "typo"); err == nil {
					t.Error("a release was recorded for values that failed the schema")
				}
			})
		}
		if out := c.Kubectl(t, "-n", "typo", "get", "all,secrets,configmaps", "-l", "app.kubernetes.io/instance=typo", "-o", "name"); out != "" {
			t.Errorf("objects created for rejected values:\n%s", out)
		}
	})
}

// lifecycle installs, upgrades, uninstalls and reinstalls one release.
func lifecycle(t *testing.T, c *kubetest.Cluster, h *helm, release, ns, chart, values string, more func(*testing.T, map[string]string)) {
	t.Helper()
	c.Kubectl(t, "create", "namespace", ns)
	keysName := release + "-keys"

	h.must(t, "install", release, chart, "-n", ns, "--values", values, "--wait", "--timeout", "3m")
	checkHookSucceeded(t, c, h, release, ns, release+"-migrate", 1)
	checkReady(t, c, ns, release, 1)
	checkSecretRefs(t, c, ns, release)
	// The hook's copy of the credentials and the finished Job are gone.
	for _, obj := range []string{"secret/" + release + "-migration", "job/" + release + "-migrate"} {
		if _, err := c.RunKubectl("-n", ns, "get", obj); err == nil {
			t.Errorf("%s outlived the migration", obj)
		}
	}
	keys := secretData(t, c, ns, keysName)
	if len(keys) == 0 {
		t.Fatalf("Secret %s is empty", keysName)
	}
	for k, v := range keys {
		if len(v) < 16 {
			t.Errorf("generated %s is %q", k, v)
		}
	}

	h.must(t, "upgrade", release, chart, "-n", ns, "--values", values, "--set", "zenml.replicaCount=2", "--wait", "--timeout", "3m")
	checkHookSucceeded(t, c, h, release, ns, release+"-migrate", 2)
	checkReady(t, c, ns, release, 2)
	if got := secretData(t, c, ns, keysName); !maps.Equal(got, keys) {
		t.Errorf("the upgrade changed the generated keys:\nbefore %v\nafter  %v", keys, got)
	}
	if more != nil {
		more(t, keys)
		keys = secretData(t, c, ns, keysName)
	}

	h.must(t, "uninstall", release, "-n", ns, "--wait", "--timeout", "3m")
	for _, obj := range []string{"deployment/" + release, "service/" + release, "serviceaccount/" + release, "secret/" + release, "ingress/" + release} {
		if _, err := c.RunKubectl("-n", ns, "get", obj); err == nil {
			t.Errorf("%s outlived the uninstall", obj)
		}
	}
	if got := secretData(t, c, ns, keysName); !maps.Equal(got, keys) {
		t.Errorf("the uninstall did not keep %s as it was", keysName)
	}

	// A reinstall adopts the kept Secret and uses the same keys.
	h.must(t, "install", release, chart, "-n", ns, "--values", values, "--wait", "--timeout", "3m")
	checkReady(t, c, ns, release, 1)
	if got := secretData(t, c, ns, keysName); !maps.Equal(got, keys) {
		t.Errorf("the reinstall did not reuse the kept keys:\nbefore %v\nafter  %v", keys, got)
	}
	h.must(t, "uninstall", release, "-n", ns, "--wait", "--timeout", "3m")
	c.Kubectl(t, "-n", ns, "delete", "secret", keysName)
}

// checkHookSucceeded asserts that Helm saw the migration Job succeed on its last
// run, and that the Job controller completed runs times a Job of that name.
func checkHookSucceeded(t *testing.T, c *kubetest.Cluster, h *helm, release, ns, jobName string, runs int) {
	t.Helper()
	var status struct {
		Hooks []struct {
			Name    string `json:"name"`
			Kind    string `json:"kind"`
			LastRun struct {
				Phase string `json:"phase"`
			} `json:"last_run"`
		} `json:"hooks"`
	}
	if err := json.Unmarshal([]byte(h.must(t, "status", release, "-n", ns, "-o", "json")), &status); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, hk := range status.Hooks {
		if hk.Kind == "Job" && hk.Name == jobName {
			found = true
			if hk.LastRun.Phase != "Succeeded" {
				t.Errorf("hook %s: last run %q, want Succeeded", jobName, hk.LastRun.Phase)
			}
		}
	}
	if !found {
		t.Fatalf("no hook Job %s in the release: %+v", jobName, status.Hooks)
	}
	// The Job controller records its verdict as an event, asynchronously: wait for it.
	var uids map[string]bool
	ok := poll(30*time.Second, func() bool {
		out := c.Kubectl(t, "-n", ns, "get", "events", "-o", "json",
			"--field-selector", "involvedObject.kind=Job,involvedObject.name="+jobName+",reason=Completed")
		var ev struct {
			Items []struct {
				InvolvedObject struct {
					UID string `json:"uid"`
				} `json:"involvedObject"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(out), &ev); err != nil {
			t.Fatal(err)
		}
		uids = map[string]bool{}
		for _, e := range ev.Items {
			uids[e.InvolvedObject.UID] = true
		}
		return len(uids) >= runs
	})
	if !ok {
		t.Errorf("Job %s completed %d times, want %d", jobName, len(uids), runs)
	}
	if len(uids) > runs {
		t.Errorf("Job %s completed %d times, want %d", jobName, len(uids), runs)
	}
}

// checkReady asserts that the Deployment has want replicas, all Ready.
func checkReady(t *testing.T, c *kubetest.Cluster, ns, name string, want int) {
	t.Helper()
	var d struct {
		Spec   struct{ Replicas int }
		Status struct{ ReadyReplicas, UpdatedReplicas int }
	}
	if err := json.Unmarshal([]byte(c.Kubectl(t, "-n", ns, "get", "deployment", name, "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if d.Spec.Replicas != want {
		t.Errorf("deployment %s: %d replicas, want %d", name, d.Spec.Replicas, want)
	}
	if d.Status.ReadyReplicas != d.Spec.Replicas || d.Status.UpdatedReplicas != d.Spec.Replicas {
		t.Errorf("deployment %s: %d of %d replicas ready (%d updated)", name, d.Status.ReadyReplicas, d.Spec.Replicas, d.Status.UpdatedReplicas)
	}
}

// checkSecretRefs does what a kubelet would: every Secret key the server's pods
// read must exist, or the container would never start. kwok does not check.
func checkSecretRefs(t *testing.T, c *kubetest.Cluster, ns, name string) {
	t.Helper()
	var d deployment
	if err := json.Unmarshal([]byte(c.Kubectl(t, "-n", ns, "get", "deployment", name, "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ctr := range d.Spec.Template.Spec.Containers {
		for _, e := range ctr.Env {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				continue
			}
			ref := e.ValueFrom.SecretKeyRef
			if _, ok := secretData(t, c, ns, ref.Name)[ref.Key]; !ok {
				t.Errorf("%s reads key %s of Secret %s, which has no such key", e.Name, ref.Key, ref.Name)
			}
			n++
		}
	}
	if n == 0 {
		t.Error("the server reads nothing from Secrets")
	}
}

func secretData(t *testing.T, c *kubetest.Cluster, ns, name string) map[string]string {
	t.Helper()
	var s secret
	if err := json.Unmarshal([]byte(c.Kubectl(t, "-n", ns, "get", "secret", name, "-o", "json")), &s); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k := range s.Data {
		out[k], _ = s.value(k)
	}
	return out
}

// poll calls cond until it holds or the time is up; it reports whether it held.
func poll(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}
