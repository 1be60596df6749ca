package seed

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
	"github.com/enclave-mlops/enclave/internal/workspace"
)

func helmBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"helm", "/var/cache/enclave/bin/helm"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if sqldbtest.Required() {
		t.Fatal("helm is required (scripts/tools.sh builds it)")
	}
	t.Skip("helm not found")
	return ""
}

// renderedEnv renders the workspace chart with values and returns the
// environment of its server container, secrets resolved from the rendered
// Secrets, as the kubelet would hand it over.
func renderedEnv(t *testing.T, valuesFile string) map[string]string {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBinary(t), "template", "zenml", "../../charts/workspace", "--values", valuesFile)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	type envVar struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct{ Name, Key string } `json:"secretKeyRef"`
		} `json:"valueFrom"`
	}
	var containerEnv []envVar
	secrets := map[string]map[string]string{}
	for _, doc := range strings.Split(string(out), "\n---") {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct{ Name string }
			Data     map[string]string `json:"data"`
			Strings  map[string]string `json:"stringData"`
			Spec     struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Name string   `json:"name"`
							Env  []envVar `json:"env"`
						} `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("rendered document: %v\n%s", err, doc)
		}
		switch obj.Kind {
		case "Secret":
			m := map[string]string{}
			for k, v := range obj.Data {
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					t.Fatal(err)
				}
				m[k] = string(b)
			}
			for k, v := range obj.Strings {
				m[k] = v
			}
			secrets[obj.Metadata.Name] = m
		case "Deployment":
			containerEnv = obj.Spec.Template.Spec.Containers[0].Env
		}
	}
	if containerEnv == nil {
		t.Fatalf("no Deployment rendered:\n%s", out)
	}
	env := map[string]string{}
	for _, e := range containerEnv {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secrets[ref.Name][ref.Key]
			if !ok {
				t.Fatalf("env %s refers to %s/%s, which the chart does not render", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
			continue
		}
		env[e.Name] = e.Value
	}
	return env
}

// TestWorkspaceFromSeedValues enrolls with the seed's script, installs the
// values file it writes into the workspace chart (database URL replaced by a
// test one), and starts the workspace server with the environment the chart
// gives it: it must enroll and serve.
func TestWorkspaceFromSeedValues(t *testing.T) {
	base, cp := startControlPlane(t)
	ctx := context.Background()
	org, err := cp.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := runScript(t, dir)
	s.answerUpToName(base, org, "from-seed")
	out, code := s.wait()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "zenml-from-seed-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wsURL := "http://" + ln.Addr().String()
	z := values["zenml"].(map[string]any)
	z["database"].(map[string]any)["url"] = sqldbtest.URL(t, "sqlite")
	z["serverURL"] = wsURL
	edited, _ := yaml.Marshal(values)
	valuesFile := filepath.Join(dir, "edited-values.yaml")
	if err := os.WriteFile(valuesFile, edited, 0o600); err != nil {
		t.Fatal(err)
	}

	env := renderedEnv(t, valuesFile)
	if env["ZENML_SERVER_DEPLOYMENT_TYPE"] != "cloud" || env["ZENML_SERVER_PRO_API_URL"] != base+"/api/v1" {
		t.Fatalf("chart env: %v", env)
	}
	env["ENCLAVE_DATA_DIR"] = t.TempDir() // /data is the pod's volume
	cfg, err := workspace.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := workspace.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx, ln) }()
	defer func() {
		cancel()
		<-done
		srv.Close()
	}()

	wsID := z["pro"].(map[string]any)["workspaceID"].(string)
	deadline := time.Now().Add(30 * time.Second)
	for {
		w, err := cp.GetWorkspace(ctx, wsID)
		if err == nil && w.Status.Health != "" && w.Status.URL == wsURL && w.Organization.ID == org.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the workspace never reported to the control plane: %+v %v", w, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ws := client.NewWorkspace(wsURL, "", nil)
	if _, err := ws.LoginExternal(ctx, cp.Token); err != nil {
		t.Fatalf("login at the workspace through the control plane: %v", err)
	}
	info, err := ws.Info(ctx)
	if err != nil || info.ProWorkspaceID != wsID {
		t.Fatalf("info: %+v, %v", info, err)
	}
	if _, err := ws.ListRuns(ctx, nil); err != nil {
		t.Fatalf("list runs: %v", err)
	}
}
