package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/controlplane"
	"github.com/enclave-mlops/enclave/internal/runner"
	"github.com/enclave-mlops/enclave/internal/sqldb/sqldbtest"
	"github.com/enclave-mlops/enclave/internal/workspace"
)

const flowAdminPassword = "flow-admin-password"

// flowSystem is a control plane and one workspace server enrolled in it, each
// on its own database of one dialect, talking over real loopback HTTP.
type flowSystem struct {
	cpURL, wsURL string
	admin        *client.ControlPlane
	org          client.Organization
}

func flowStart(t *testing.T, dialect string, cacheTTL time.Duration) *flowSystem {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cp, err := controlplane.New(ctx, controlplane.Config{
		Listen: "127.0.0.1:0", DatabaseURL: sqldbtest.URL(t, dialect), AdminUsername: "admin", AdminPassword: flowAdminPassword,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	cpSrv := httptest.NewServer(cp.Handler())
	t.Cleanup(cpSrv.Close)
	sys := &flowSystem{cpURL: cpSrv.URL, admin: client.NewControlPlane(cpSrv.URL, "", nil)}
	if err := sys.admin.Login(ctx, "admin", flowAdminPassword); err != nil {
		t.Fatal(err)
	}
	if sys.org, err = sys.admin.CreateOrganization(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	// Enroll through the API, as the dashboard or enroll script would.
	enrolled, err := sys.admin.CreateWorkspace(ctx, sys.org.ID, "ml-platform", true)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sys.wsURL = "http://" + ln.Addr().String()
	env := map[string]string{
		"ZENML_STORE_URL":                       sqldbtest.URL(t, dialect),
		"ZENML_SERVER_URL":                      sys.wsURL,
		"ZENML_SERVER_DEPLOYMENT_TYPE":          "cloud",
		"ZENML_SERVER_PRO_API_URL":              cpSrv.URL + "/api/v1",
		"ZENML_SERVER_PRO_DASHBOARD_URL":        cpSrv.URL,
		"ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET": enrolled.EnrollmentKey,
		"ZENML_SERVER_PRO_ORGANIZATION_ID":      sys.org.ID,
		"ZENML_SERVER_PRO_ORGANIZATION_NAME":    sys.org.Name,
		"ZENML_SERVER_PRO_WORKSPACE_ID":         enrolled.ID,
		"ZENML_SERVER_PRO_WORKSPACE_NAME":       enrolled.Name,
		"ZENML_SERVER_JWT_SECRET_KEY":           strings.Repeat("j", 40),
		"ZENML_SECRETS_STORE_TYPE":              "sql",
		"ZENML_SECRETS_STORE_ENCRYPTION_KEY":    strings.Repeat("e", 64),
		"ZENML_STORE_BACKUP_STRATEGY":           "in-memory",
		"ENCLAVE_DATA_DIR":                      t.TempDir(),
		"ENCLAVE_RBAC_CACHE_TTL":                cacheTTL.String(),
	}
	cfg, err := workspace.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ws.Run(runCtx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		ws.Close()
	})
	// The workspace reports itself to the control plane once enrolled.
	flowEventually(t, "the workspace reports its status", func() bool {
		w, err := sys.admin.GetWorkspace(ctx, enrolled.ID)
		return err == nil && w.Status.Health != "" && w.Status.URL == sys.wsURL
	})
	return sys
}

func flowEventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// member creates a user, gives it a role in the organization and returns a
// workspace client logged in through the control plane.
func (s *flowSystem) member(t *testing.T, name, role string) (*client.Workspace, client.Account, error) {
	t.Helper()
	ctx := context.Background()
	u, err := s.admin.CreateUser(ctx, name, name+"-password", name+"@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if role != "" {
		if _, err := s.admin.AddMember(ctx, s.org.ID, name, role); err != nil {
			t.Fatal(err)
		}
	}
	cp := client.NewControlPlane(s.cpURL, "", nil)
	if err := cp.Login(ctx, name, name+"-password"); err != nil {
		t.Fatal(err)
	}
	ws := client.NewWorkspace(s.wsURL, "", nil)
	_, err = ws.LoginExternal(ctx, cp.Token)
	return ws, u, err
}

const flowPipeline = `name: churn
steps:
  - name: ingest
    command: 'echo ingesting; printf "id,churned\n1,0\n2,1\n3,0\n" > "$ENCLAVE_OUTPUT_TABLE"'
    outputs: [table]
  - name: train
    inputs: {table: ingest.table}
    command: 'echo "training on $(tail -n +2 "$ENCLAVE_INPUT_TABLE" | wc -l) rows"; echo model-v1 > "$ENCLAVE_OUTPUT_MODEL"'
    outputs: [model]
  - name: evaluate
    inputs: {model: train.model, table: ingest.table}
    command: 'echo "evaluating $(cat "$ENCLAVE_INPUT_MODEL")"; echo auc=0.91 > "$ENCLAVE_OUTPUT_REPORT"'
    outputs: [report]
`

// TestWholeFlow follows the seed's story on PostgreSQL and on MariaDB:
// enroll, start the workspace in pro mode, log in through the control plane,
// run a pipeline, list and check its lineage, and check roles end to end.
func TestWholeFlow(t *testing.T) {
	for _, dialect := range []string{"postgresql", "mysql"} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			sys := flowStart(t, dialect, time.Second)
			editor, editorUser, err := sys.member(t, "eddie", "Editor")
			if err != nil {
				t.Fatalf("editor's workspace login: %v", err)
			}

			spec, err := runner.Parse([]byte(flowPipeline))
			if err != nil {
				t.Fatal(err)
			}
			var runIDs []string
			for i := 0; i < 3; i++ {
				res, err := (&runner.Runner{WS: editor, ArtifactDir: t.TempDir()}).Run(ctx, spec)
				if err != nil || res.Status != client.StatusCompleted {
					t.Fatalf("run %d: %+v, %v", i, res, err)
				}
				runIDs = append(runIDs, res.RunID)
			}

			// Lists with filters, sorting and paging.
			page, err := editor.ListRuns(ctx, &client.ListOptions{Size: 2, Page: 1, SortBy: "desc:created", Filters: map[string]string{"status": "completed"}})
			if err != nil || page.Total != 3 || page.TotalPages != 2 || len(page.Items) != 2 || page.Items[0].ID != runIDs[2] {
				t.Fatalf("runs page 1: %+v, %v", page, err)
			}
			page2, err := editor.ListRuns(ctx, &client.ListOptions{Size: 2, Page: 2, SortBy: "desc:created", Filters: map[string]string{"status": "completed"}})
			if err != nil || len(page2.Items) != 1 || page2.Items[0].ID != runIDs[0] {
				t.Fatalf("runs page 2: %+v, %v", page2, err)
			}
			none, err := editor.ListRuns(ctx, &client.ListOptions{Filters: map[string]string{"status": "failed"}})
			if err != nil || none.Total != 0 {
				t.Fatalf("failed runs: %+v, %v", none, err)
			}
			steps, err := editor.ListRunSteps(ctx, runIDs[1], &client.ListOptions{SortBy: "asc:name", Hydrate: true})
			if err != nil || len(steps.Items) != 3 || steps.Items[0].Name != "evaluate" {
				t.Fatalf("steps: %+v, %v", steps, err)
			}
			avs, err := editor.ListArtifactVersions(ctx, &client.ListOptions{Size: 50, Filters: map[string]string{"producer_pipeline_run_id": runIDs[1]}})
			if err != nil || avs.Total != 3 {
				t.Fatalf("artifact versions of run 2: %+v, %v", avs, err)
			}

			// Lineage: evaluate read what train and ingest wrote in the same run.
			byName := map[string]client.Step{}
			for _, s := range steps.Items {
				byName[s.Name] = s
			}
			if byName["evaluate"].Body.Inputs["model"][0] != byName["train"].Body.Outputs["model"][0] ||
				byName["evaluate"].Body.Inputs["table"][0] != byName["ingest"].Body.Outputs["table"][0] {
				t.Fatalf("lineage broken: %+v", byName["evaluate"].Body)
			}
			av, err := editor.GetArtifactVersion(ctx, byName["train"].Body.Outputs["model"][0], true)
			if err != nil || av.Metadata == nil || av.Metadata.ProducerStepRunID == nil || *av.Metadata.ProducerStepRunID != byName["train"].ID {
				t.Fatalf("model's producer: %+v, %v", av, err)
			}

			// A viewer reads but cannot create.
			viewer, _, err := sys.member(t, "vic", "Viewer")
			if err != nil {
				t.Fatalf("viewer's login: %v", err)
			}
			if runs, err := viewer.ListRuns(ctx, nil); err != nil || runs.Total != 3 {
				t.Fatalf("viewer lists runs: %+v, %v", runs, err)
			}
			proj, _ := viewer.GetProject(ctx, "default")
			if _, err := viewer.CreatePipeline(ctx, client.PipelineRequest{Name: "viewers-own", Project: proj.ID}); client.StatusOf(err) != 403 {
				t.Fatalf("viewer creates a pipeline: %v", err)
			}
			// Code repositories, which the SDK lists before every run: the
			// editor adds one, the viewer sees it and may not add another.
			repo, err := editor.CreateCodeRepository(ctx, client.CodeRepositoryRequest{Name: "training-code", Project: proj.ID,
				Source: json.RawMessage(`{"module": "zenml.integrations.gitlab.code_repositories", "attribute": "GitLabCodeRepository", "type": "internal"}`)})
			if err != nil {
				t.Fatalf("editor adds a code repository: %v", err)
			}
			if repos, err := viewer.ListCodeRepositories(ctx, nil); err != nil || repos.Total != 1 || repos.Items[0].ID != repo.ID {
				t.Fatalf("viewer lists code repositories: %+v, %v", repos, err)
			}
			if _, err := viewer.CreateCodeRepository(ctx, client.CodeRepositoryRequest{Name: "viewers-own", Project: proj.ID, Source: json.RawMessage(`"repos.Git"`)}); client.StatusOf(err) != 403 {
				t.Fatalf("viewer adds a code repository: %v", err)
			}

			// A member of another organization is refused at login.
			if _, err := sys.admin.CreateUser(ctx, "otto", "otto-password", ""); err != nil {
				t.Fatal(err)
			}
			cpOtto := client.NewControlPlane(sys.cpURL, "", nil)
			if err := cpOtto.Login(ctx, "otto", "otto-password"); err != nil {
				t.Fatal(err)
			}
			if _, err := cpOtto.CreateOrganization(ctx, "org-b", ""); err != nil {
				t.Fatal(err)
			}
			wsOtto := client.NewWorkspace(sys.wsURL, "", nil)
			if _, err := wsOtto.LoginExternal(ctx, cpOtto.Token); client.StatusOf(err) != 403 {
				t.Fatalf("outsider's login: %v", err)
			}

			// A removed membership is refused once the RBAC cache runs out.
			if _, err := editor.CreatePipeline(ctx, client.PipelineRequest{Name: "before-removal", Project: proj.ID}); err != nil {
				t.Fatalf("editor creates: %v", err)
			}
			if err := sys.admin.RemoveMember(ctx, sys.org.ID, editorUser.ID); err != nil {
				t.Fatal(err)
			}
			n := 0
			flowEventually(t, "the removed editor is refused", func() bool {
				n++
				_, err := editor.CreatePipeline(ctx, client.PipelineRequest{Name: fmt.Sprintf("after-removal-%d", n), Project: proj.ID})
				s := client.StatusOf(err)
				return s == 403 || s == 401
			})
		})
	}
}
