package charts_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	h := newHelm(t, "")
	enrolled, _ := enrolledValues(t)
	for _, tc := range []struct {
		chart  string
		values []string
	}{
		{controlplaneChart, nil},
		{controlplaneChart, []string{seedControlplaneValues}},
		{workspaceChart, nil},
		{workspaceChart, []string{seedWorkspaceValues}},
		{workspaceChart, []string{enrolled}},
		{workspaceChart, []string{"testdata/features-values.yaml"}},
	} {
		name := filepath.Base(tc.chart)
		for _, v := range tc.values {
			name += " " + filepath.Base(v)
		}
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", "--strict", tc.chart}
			for _, v := range tc.values {
				args = append(args, "--values", v)
			}
			out := h.must(t, args...)
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("lint:\n%s", out)
			}
		})
	}
}

// checkPod asserts what every pod of both charts must have: the image, the
// hardened security contexts, the writable /tmp on a read-only root, and for the
// server the port and the probes.
func checkPod(t *testing.T, spec podSpec, wantImage string, wantArgs []string, server bool) container {
	t.Helper()
	if len(spec.Containers) != 1 {
		t.Fatalf("containers: %d, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.Image != wantImage {
		t.Errorf("image %q, want %q", c.Image, wantImage)
	}
	if !slices.Equal(c.Args, wantArgs) || len(c.Command) != 0 {
		t.Errorf("command %v args %v, want the image's entrypoint with args %v", c.Command, c.Args, wantArgs)
	}
	psc := spec.SecurityContext
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 1000 || psc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod securityContext: %+v", psc)
	}
	sc := c.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 1000 {
		t.Errorf("container runs as root or another user: %+v", sc)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("root filesystem is writable")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("privilege escalation is allowed")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("container is privileged")
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities: %+v, want drop ALL", sc.Capabilities)
	}
	if sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("container seccomp: %q", sc.SeccompProfile.Type)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	vols := map[string]volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	if v, ok := vols[mounts["/tmp"]]; !ok || v.EmptyDir == nil {
		t.Errorf("/tmp is not an emptyDir: mounts %v", mounts)
	}
	if _, ok := vols[mounts["/data"]]; !ok {
		t.Errorf("/data is not mounted: mounts %v", mounts)
	}
	if !server {
		return c
	}
	port := ""
	for _, p := range c.Ports {
		if p.ContainerPort == 8080 {
			port = p.Name
		}
	}
	if port == "" {
		t.Fatalf("no container port 8080: %+v", c.Ports)
	}
	for name, p := range map[string]*probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe is not an HTTP GET", name)
			continue
		}
		if p.HTTPGet.Path != "/health" || (fmt.Sprint(p.HTTPGet.Port) != port && fmt.Sprint(p.HTTPGet.Port) != "8080") {
			t.Errorf("%s probe: GET %v%s, want /health on 8080", name, p.HTTPGet.Port, p.HTTPGet.Path)
		}
	}
	return c
}

func pullSecrets(spec podSpec) []string {
	var out []string
	for _, s := range spec.ImagePullSecrets {
		out = append(out, s.Name)
	}
	return out
}

// checkMigrationJob asserts the hook Job and that every Secret it reads is a hook
// that Helm creates before it.
func checkMigrationJob(t *testing.T, r rendered, name, wantImage string, wantArgs []string) (job, container) {
	t.Helper()
	o := r.get(t, "Job", name)
	if got := o.Metadata.Annotations["helm.sh/hook"]; got != "pre-install,pre-upgrade" {
		t.Errorf("job hook %q, want pre-install,pre-upgrade", got)
	}
	var j job
	o.into(t, &j)
	if j.Spec.BackoffLimit == nil || *j.Spec.BackoffLimit != 0 {
		t.Errorf("backoffLimit %v, want 0", j.Spec.BackoffLimit)
	}
	if j.Spec.Template.Spec.RestartPolicy != "Never" {
		t.Errorf("restartPolicy %q", j.Spec.Template.Spec.RestartPolicy)
	}
	c := checkPod(t, j.Spec.Template.Spec, wantImage, wantArgs, false)
	jobWeight := o.Metadata.Annotations["helm.sh/hook-weight"]
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		s := r.get(t, "Secret", e.ValueFrom.SecretKeyRef.Name)
		if !strings.Contains(s.Metadata.Annotations["helm.sh/hook"], "pre-install") {
			t.Errorf("the migration reads %s from Secret %s, which does not exist at pre-install", e.Name, s.Metadata.Name)
		}
		if w := s.Metadata.Annotations["helm.sh/hook-weight"]; atoi(t, w) >= atoi(t, jobWeight) {
			t.Errorf("Secret %s has hook weight %s, not below the Job's %s", s.Metadata.Name, w, jobWeight)
		}
	}
	return j, c
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

type ingress struct {
	Spec struct {
		IngressClassName *string `json:"ingressClassName"`
		TLS              []struct {
			SecretName string   `json:"secretName"`
			Hosts      []string `json:"hosts"`
		} `json:"tls"`
		Rules []struct {
			Host string `json:"host"`
			HTTP struct {
				Paths []struct {
					Path    string `json:"path"`
					Backend struct {
						Service struct {
							Name string `json:"name"`
							Port struct {
								Name string `json:"name"`
							} `json:"port"`
						} `json:"service"`
					} `json:"backend"`
				} `json:"paths"`
			} `json:"http"`
		} `json:"rules"`
	} `json:"spec"`
}

func checkIngress(t *testing.T, r rendered, name, class, host, tlsSecret string) {
	t.Helper()
	var ing ingress
	r.get(t, "Ingress", name).into(t, &ing)
	if class != "" && (ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != class) {
		t.Errorf("ingress class %v, want %s", ing.Spec.IngressClassName, class)
	}
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != host {
		t.Fatalf("ingress rules %+v, want host %s", ing.Spec.Rules, host)
	}
	be := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	if be.Name != name || be.Port.Name != "http" {
		t.Errorf("ingress backend %+v", be)
	}
	var svc struct {
		Spec struct {
			Selector map[string]string `json:"selector"`
			Ports    []struct {
				Name       string `json:"name"`
				TargetPort any    `json:"targetPort"`
			} `json:"ports"`
		} `json:"spec"`
	}
	r.get(t, "Service", name).into(t, &svc)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || fmt.Sprint(svc.Spec.Ports[0].TargetPort) != "http" {
		t.Errorf("service ports %+v", svc.Spec.Ports)
	}
	if tlsSecret == "" {
		if len(ing.Spec.TLS) != 0 {
			t.Errorf("ingress has TLS %+v, want none", ing.Spec.TLS)
		}
		return
	}
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != tlsSecret || !slices.Equal(ing.Spec.TLS[0].Hosts, []string{host}) {
		t.Errorf("ingress TLS %+v, want %s for %s", ing.Spec.TLS, tlsSecret, host)
	}
}

func TestControlplaneSeedValues(t *testing.T) {
	h := newHelm(t, "")
	r := h.template(t, "zenml-pro", "zenml-pro", controlplaneChart, seedControlplaneValues)
	const image = "internal-registry.mycompany.com/zenml/zenml-pro-api:0.1.0"

	var d deployment
	r.get(t, "Deployment", "zenml-pro").into(t, &d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	c := checkPod(t, d.Spec.Template.Spec, image, []string{"controlplane"}, true)
	if got := pullSecrets(d.Spec.Template.Spec); !slices.Equal(got, []string{"internal-registry-secret"}) {
		t.Errorf("pull secrets %v", got)
	}
	if c.Resources.Requests["cpu"] != "500m" || c.Resources.Limits["memory"] != "4Gi" {
		t.Errorf("resources %+v", c.Resources)
	}
	env := envMap(t, c)
	want := map[string]string{
		"ENCLAVE_LISTEN":            ":8080",
		"ENCLAVE_SERVER_URL":        "https://zenml-pro.internal.mycompany.com",
		"ENCLAVE_DATABASE_TYPE":     "mysql",
		"ENCLAVE_DATABASE_HOST":     "mysql.internal.mycompany.com",
		"ENCLAVE_DATABASE_PORT":     "3306",
		"ENCLAVE_DATABASE_USERNAME": "zenml_pro",
		"ENCLAVE_DATABASE_PASSWORD": "cp-db-secret",
		"ENCLAVE_DATABASE_NAME":     "zenml_pro",
		"ENCLAVE_ADMIN_USERNAME":    "admin",
		"ENCLAVE_ADMIN_PASSWORD":    "admin-secret",
	}
	for k, v := range want {
		e, ok := env[k]
		if !ok {
			t.Errorf("%s is not set", k)
			continue
		}
		if got := r.resolve(t, e); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"ENCLAVE_DATABASE_PASSWORD", "ENCLAVE_ADMIN_PASSWORD"} {
		if env[k].Value != "" || env[k].ValueFrom == nil {
			t.Errorf("%s is in the pod spec in clear, want a secretKeyRef", k)
		}
	}
	if _, ok := env["ENCLAVE_DATABASE_URL"]; ok {
		t.Error("ENCLAVE_DATABASE_URL is set next to the database parts")
	}
	// The dashboard image is accepted and unused.
	for _, o := range r {
		if strings.Contains(string(o.raw), "zenml-pro-dashboard") {
			t.Errorf("%s/%s uses the dashboard image", o.Kind, o.Metadata.Name)
		}
	}

	checkIngress(t, r, "zenml-pro", "nginx", "zenml-pro.internal.mycompany.com", "zenml-tls")

	_, mc := checkMigrationJob(t, r, "zenml-pro-migrate", image, []string{"migrate", "controlplane"})
	menv := envMap(t, mc)
	if got := r.resolve(t, menv["ENCLAVE_DATABASE_PASSWORD"]); got != "cp-db-secret" {
		t.Errorf("migration database password %q", got)
	}
	if _, ok := menv["ENCLAVE_ADMIN_PASSWORD"]; ok {
		t.Error("the migration Job gets the admin password; it needs only the database")
	}
}

func TestControlplaneDefaults(t *testing.T) {
	h := newHelm(t, "")
	r := h.template(t, "enclave", "enclave", controlplaneChart)
	var d deployment
	r.get(t, "Deployment", "enclave").into(t, &d)
	c := checkPod(t, d.Spec.Template.Spec, defaultRepository+":"+appVersion, []string{"controlplane"}, true)
	env := envMap(t, c)
	if got := env["ENCLAVE_DATABASE_URL"].Value; got != "sqlite:////data/cp.db" {
		t.Errorf("ENCLAVE_DATABASE_URL %q", got)
	}
	// No password given: one is generated into the kept Secret.
	pw := r.resolve(t, env["ENCLAVE_ADMIN_PASSWORD"])
	if len(pw) < 16 {
		t.Errorf("generated admin password %q is too short", pw)
	}
	if ref := env["ENCLAVE_ADMIN_PASSWORD"].ValueFrom.SecretKeyRef; ref.Name != "enclave-keys" {
		t.Errorf("admin password from %s, want the kept Secret enclave-keys", ref.Name)
	}
	if keys := r.get(t, "Secret", "enclave-keys"); keys.Metadata.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Error("the generated Secret is not kept on uninstall")
	}
	for _, kind := range []string{"Job", "Ingress", "PodDisruptionBudget", "HorizontalPodAutoscaler"} {
		if n := len(r.kinds(kind)); n != 0 {
			t.Errorf("%d %s rendered by default", n, kind)
		}
	}
	if d.Spec.Template.Spec.AutomountServiceAccountToken == nil || *d.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Error("the control plane mounts an API token it does not need")
	}
}

func TestWorkspaceSeedValues(t *testing.T) {
	h := newHelm(t, "")
	r := h.template(t, "zenml", "zenml-workspace", workspaceChart, seedWorkspaceValues)
	const image = "internal-registry.mycompany.com/zenml/zenml-pro-server:0.1.0"

	var d deployment
	r.get(t, "Deployment", "zenml").into(t, &d)
	c := checkPod(t, d.Spec.Template.Spec, image, []string{"workspace"}, true)
	if got := pullSecrets(d.Spec.Template.Spec); !slices.Equal(got, []string{"internal-registry-secret"}) {
		t.Errorf("pull secrets %v", got)
	}
	if fs := d.Spec.Template.Spec.SecurityContext.FSGroup; fs == nil || *fs != 1000 {
		t.Errorf("fsGroup %v, want 1000 from the seed's podSecurityContext", fs)
	}
	if c.Resources.Requests["memory"] != "512Mi" || c.Resources.Limits["cpu"] != "1000m" {
		t.Errorf("resources %+v", c.Resources)
	}
	env := envMap(t, c)
	want := map[string]string{
		"ENCLAVE_LISTEN":                        ":8080",
		"ENCLAVE_DATA_DIR":                      "/data",
		"ZENML_SERVER_URL":                      "https://zenml-workspace.internal.mycompany.com",
		"ZENML_STORE_URL":                       "mysql://zenml_workspace_user@mysql.internal.mycompany.com:3306/zenml_workspace",
		"ZENML_STORE_USERNAME":                  "zenml_workspace_user",
		"ZENML_STORE_PASSWORD":                  "ws-db-secret",
		"ZENML_SERVER_DEPLOYMENT_TYPE":          "cloud",
		"ZENML_SERVER_PRO_API_URL":              "https://zenml-pro.internal.mycompany.com/api/v1",
		"ZENML_SERVER_PRO_DASHBOARD_URL":        "https://zenml-pro.internal.mycompany.com",
		"ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET": "enroll-key-0123456789abcdef",
		"ZENML_SERVER_PRO_OAUTH2_AUDIENCE":      "https://zenml-pro.internal.mycompany.com/api/v1",
		"ZENML_SERVER_PRO_ORGANIZATION_ID":      "7b1d9a0e-4a55-4c3f-9d6e-0c6f1b2a3c4d",
		"ZENML_SERVER_PRO_ORGANIZATION_NAME":    "acme",
		"ZENML_SERVER_PRO_WORKSPACE_ID":         "3f2c1b0a-9e8d-4c7b-a6f5-e4d3c2b1a098",
		"ZENML_SERVER_PRO_WORKSPACE_NAME":       "research",
		"ZENML_SECRETS_STORE_TYPE":              "sql",
	}
	for k, v := range want {
		e, ok := env[k]
		if !ok {
			t.Errorf("%s is not set", k)
			continue
		}
		if got := r.resolve(t, e); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"ZENML_STORE_PASSWORD", "ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET", "ZENML_SERVER_JWT_SECRET_KEY", "ZENML_SECRETS_STORE_ENCRYPTION_KEY"} {
		if env[k].ValueFrom == nil || env[k].ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s is not read from a Secret", k)
		}
	}
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for _, k := range []string{"ZENML_SERVER_JWT_SECRET_KEY", "ZENML_SECRETS_STORE_ENCRYPTION_KEY"} {
		if ref := env[k].ValueFrom.SecretKeyRef; ref.Name != "zenml-keys" {
			t.Errorf("%s from Secret %s, want the kept zenml-keys", k, ref.Name)
		}
		if got := r.resolve(t, env[k]); !hex64.MatchString(got) {
			t.Errorf("generated %s = %q, want 64 hex digits", k, got)
		}
	}

	checkIngress(t, r, "zenml", "nginx", "zenml-workspace.internal.mycompany.com", "zenml-tls")

	_, mc := checkMigrationJob(t, r, "zenml-migrate", image, []string{"migrate", "workspace"})
	menv := envMap(t, mc)
	if got := r.resolve(t, menv["ZENML_STORE_PASSWORD"]); got != "ws-db-secret" {
		t.Errorf("migration store password %q", got)
	}
	if got := menv["ZENML_STORE_URL"].Value; got != want["ZENML_STORE_URL"] {
		t.Errorf("migration store URL %q", got)
	}
	if got := menv["ZENML_STORE_BACKUP_STRATEGY"].Value; got != "in-memory" {
		t.Errorf("migration backup strategy %q", got)
	}
}

func TestWorkspaceEnrolledValues(t *testing.T) {
	h := newHelm(t, "")
	path, values := enrolledValues(t)
	r := h.template(t, "zenml", "zenml-pro-"+enrolledWSName, workspaceChart, path)
	short := strings.ReplaceAll(enrolledWSID, "-", "")

	var d deployment
	r.get(t, "Deployment", "zenml").into(t, &d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	// The script omits the tag: the chart's appVersion.
	c := checkPod(t, d.Spec.Template.Spec, enrolledRepository+":"+appVersion, []string{"workspace"}, true)
	// The script's resources are at the top level.
	if c.Resources.Limits["memory"] != "800Mi" || c.Resources.Requests["cpu"] != "100m" || c.Resources.Requests["memory"] != "450Mi" {
		t.Errorf("resources %+v", c.Resources)
	}
	env := envMap(t, c)
	encKey, _ := lookup(t, values, "zenml", "secretsStore", "sql", "encryptionKey").(string)
	if len(encKey) != 64 {
		t.Fatalf("the script wrote encryption key %q", encKey)
	}
	want := map[string]string{
		"ZENML_STORE_URL":                       "mysql://root:password@mysql.example.com:3306/zenml" + short,
		"ZENML_SERVER_URL":                      "https://zenml." + short + ".example.com",
		"ZENML_STORE_POOL_SIZE":                 "10",
		"ZENML_STORE_MAX_OVERFLOW":              "-1",
		"ZENML_SERVER_THREAD_POOL_SIZE":         "20",
		"ZENML_ANALYTICS_OPT_IN":                "false",
		"ZENML_SERVER_DEPLOYMENT_TYPE":          "cloud",
		"ZENML_SERVER_PRO_API_URL":              enrolledProURL + "/api/v1",
		"ZENML_SERVER_PRO_DASHBOARD_URL":        enrolledProURL,
		"ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET": enrolledKey,
		"ZENML_SERVER_PRO_ORGANIZATION_ID":      enrolledOrgID,
		"ZENML_SERVER_PRO_ORGANIZATION_NAME":    enrolledOrgName,
		"ZENML_SERVER_PRO_WORKSPACE_ID":         enrolledWSID,
		"ZENML_SERVER_PRO_WORKSPACE_NAME":       enrolledWSName,
		"ZENML_SECRETS_STORE_TYPE":              "sql",
		"ZENML_SECRETS_STORE_ENCRYPTION_KEY":    encKey,
	}
	for k, v := range want {
		e, ok := env[k]
		if !ok {
			t.Errorf("%s is not set", k)
			continue
		}
		if got := r.resolve(t, e); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// The URL carries a password: it is read from a Secret.
	if env["ZENML_STORE_URL"].ValueFrom == nil {
		t.Error("ZENML_STORE_URL with its password is in the pod spec in clear")
	}
	if _, ok := env["ZENML_STORE_PASSWORD"]; ok {
		t.Error("ZENML_STORE_PASSWORD set although the URL carries the credentials")
	}
	checkIngress(t, r, "zenml", "", "zenml."+short+".example.com", "")
	_, mc := checkMigrationJob(t, r, "zenml-migrate", enrolledRepository+":"+appVersion, []string{"migrate", "workspace"})
	if got := r.resolve(t, envMap(t, mc)["ZENML_STORE_URL"]); got != want["ZENML_STORE_URL"] {
		t.Errorf("migration store URL %q", got)
	}
}

type role struct {
	Rules []struct {
		APIGroups []string `json:"apiGroups"`
		Resources []string `json:"resources"`
		Verbs     []string `json:"verbs"`
	} `json:"rules"`
}

func TestWorkspaceFeatures(t *testing.T) {
	h := newHelm(t, "")
	r := h.template(t, "ws", "ws", workspaceChart, "testdata/features-values.yaml")
	const image = "registry.internal.example/enclave/enclave@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

	var d deployment
	r.get(t, "Deployment", "ws").into(t, &d)
	if d.Spec.Replicas != nil {
		t.Errorf("replicas %d set although the HorizontalPodAutoscaler owns them", *d.Spec.Replicas)
	}
	spec := d.Spec.Template.Spec
	c := checkPod(t, spec, image, []string{"workspace"}, true)
	env := envMap(t, c)
	want := map[string]string{
		"SSL_CERT_FILE":                      "/etc/enclave/ca/ca.crt",
		"HTTP_PROXY":                         "http://proxy.internal.example:3128",
		"HTTPS_PROXY":                        "http://proxy.internal.example:3128",
		"ZENML_SERVER_THREAD_POOL_SIZE":      "8",
		"ZENML_STORE_BACKUP_STRATEGY":        "dump-file",
		"ZENML_SERVER_JWT_SECRET_KEY":        "a-jwt-key-from-values",
		"ZENML_SECRETS_STORE_ENCRYPTION_KEY": "an-encryption-key-from-values",
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_TTL_SECONDS_AFTER_FINISHED": "86400",
		"ZENML_SERVER_MAX_CONCURRENT_TEMPLATE_RUNS":                    "2",
		"ZENML_KUBERNETES_WORKLOAD_MANAGER_POD_RESOURCES":              `{"requests": {"cpu": "100m", "memory": "400Mi"}, "limits": {"memory": "700Mi"}}`,
		"ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE":          "zenml_cloud_plugins.kubernetes_workload_manager.KubernetesWorkloadManager",
		"ENCLAVE_IMAGE": image,
	}
	for k, v := range want {
		if got := r.resolve(t, env[k]); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if np := env["NO_PROXY"].Value; !strings.Contains(np, ".svc") || !strings.Contains(np, "127.0.0.1") {
		t.Errorf("NO_PROXY %q leaves cluster traffic on the proxy", np)
	}
	// The CA bundle is mounted where SSL_CERT_FILE points, from the rendered ConfigMap.
	caVol := ""
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/etc/enclave/ca" {
			caVol = m.Name
		}
	}
	var ca volume
	for _, v := range spec.Volumes {
		if v.Name == caVol {
			ca = v
		}
	}
	if ca.ConfigMap == nil {
		t.Fatalf("no CA volume at /etc/enclave/ca: %+v", spec.Volumes)
	}
	var cm struct{ Data map[string]string }
	r.get(t, "ConfigMap", ca.ConfigMap.Name).into(t, &cm)
	if !strings.Contains(cm.Data["ca.crt"], "BEGIN CERTIFICATE") {
		t.Errorf("CA ConfigMap holds %q", cm.Data["ca.crt"])
	}
	// The migration runs before that ConfigMap exists: it reads the hook Secret.
	_, mc := checkMigrationJob(t, r, "ws-migrate", image, []string{"migrate", "workspace"})
	if got := envMap(t, mc)["SSL_CERT_FILE"].Value; got != "/etc/enclave/ca/ca.crt" {
		t.Errorf("migration SSL_CERT_FILE %q", got)
	}

	var hpa struct {
		Spec struct {
			MinReplicas    int `json:"minReplicas"`
			MaxReplicas    int `json:"maxReplicas"`
			ScaleTargetRef struct {
				Kind, Name string
			} `json:"scaleTargetRef"`
		} `json:"spec"`
	}
	r.get(t, "HorizontalPodAutoscaler", "ws").into(t, &hpa)
	if hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas != 5 || hpa.Spec.ScaleTargetRef.Name != "ws" || hpa.Spec.ScaleTargetRef.Kind != "Deployment" {
		t.Errorf("hpa %+v", hpa.Spec)
	}
	var pdb struct {
		Spec struct {
			MinAvailable any `json:"minAvailable"`
			Selector     struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
		} `json:"spec"`
	}
	r.get(t, "PodDisruptionBudget", "ws").into(t, &pdb)
	if fmt.Sprint(pdb.Spec.MinAvailable) != "1" || !mapsEqual(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("pdb %+v does not cover the Deployment's pods %v", pdb.Spec, d.Spec.Selector.MatchLabels)
	}

	// The workload manager's RBAC, in its own namespace, for the runner and the server.
	if spec.AutomountServiceAccountToken == nil || !*spec.AutomountServiceAccountToken {
		t.Error("the server has no API token, but the workload manager needs one")
	}
	sa := r.get(t, "ServiceAccount", "zenml-runner")
	if sa.Metadata.Namespace != "zenml-workload-manager" {
		t.Errorf("runner account in namespace %q", sa.Metadata.Namespace)
	}
	roleObj := r.get(t, "Role", "ws-workload-manager")
	if roleObj.Metadata.Namespace != "zenml-workload-manager" {
		t.Errorf("role in namespace %q", roleObj.Metadata.Namespace)
	}
	var ro role
	roleObj.into(t, &ro)
	granted := map[string]bool{}
	for _, rule := range ro.Rules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				for _, v := range rule.Verbs {
					granted[g+"/"+res+":"+v] = true
				}
			}
		}
	}
	needed := []string{"batch/jobs:create", "batch/jobs:get", "batch/jobs:list", "batch/jobs:delete", "/pods:list", "/pods/log:get", "/secrets:create"}
	for _, want := range needed {
		if !granted[want] {
			t.Errorf("the workload manager's role lacks %s", want)
		}
	}
	if len(granted) != len(needed) {
		t.Errorf("the workload manager's role grants more than it needs: %v", granted)
	}
	var rb struct {
		RoleRef  struct{ Kind, Name string }              `json:"roleRef"`
		Subjects []struct{ Kind, Name, Namespace string } `json:"subjects"`
	}
	r.get(t, "RoleBinding", "ws-workload-manager").into(t, &rb)
	subjects := map[string]bool{}
	for _, s := range rb.Subjects {
		subjects[s.Kind+":"+s.Namespace+":"+s.Name] = true
	}
	if rb.RoleRef.Name != "ws-workload-manager" || !subjects["ServiceAccount:ws:ws"] || !subjects["ServiceAccount:zenml-workload-manager:zenml-runner"] {
		t.Errorf("role binding %+v", rb)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
