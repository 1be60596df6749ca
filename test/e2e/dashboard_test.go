package e2e

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/runner"
	"github.com/enclave-mlops/enclave/internal/uptest"
)

// The dashboard in a real browser: headless Chromium against the servers
// `enclave up` starts. Helpers here carry the prefix dash.

const dashChromium = "/usr/bin/chromium"

const dashPipeline = `name: training
steps:
  - name: load
    command: 'echo loading rows; printf "1,2\n3,4\n" > "$ENCLAVE_OUTPUT_DATA"'
    outputs: [data]
  - name: train
    inputs: {data: load.data}
    command: 'echo "rows $(wc -l < "$ENCLAVE_INPUT_DATA")"; echo weights > "$ENCLAVE_OUTPUT_MODEL"'
    outputs: [model]
  - name: evaluate
    inputs: {model: train.model, data: load.data}
    command: 'echo accuracy 0.93'
`

// dashBrowser starts Chromium and records every request a page makes whose
// host is not the server's.
func dashBrowser(t *testing.T, serverURL string) (context.Context, func() []string) {
	t.Helper()
	if _, err := os.Stat(dashChromium); err != nil {
		if os.Getenv("ENCLAVE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("chromium: %v", err)
		}
		t.Skipf("no %s: %v", dashChromium, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(dashChromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 100*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })

	host := strings.TrimPrefix(serverURL, "http://")
	var mu sync.Mutex
	var foreign []string
	// chromedp enables the network domain of the tab, so every request a
	// page makes arrives here, whether it succeeds or not.
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Request != nil {
			u, err := url.Parse(e.Request.URL)
			if err != nil || (u.Scheme != "data" && u.Host != host) {
				mu.Lock()
				foreign = append(foreign, e.Request.URL)
				mu.Unlock()
			}
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), foreign...)
	}
}

// dashShot saves a screenshot of the whole page for reviewers.
func dashShot(dir, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		png, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	})
}

// dashHeading waits for a top heading that contains text.
func dashHeading(text string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(`//h1[contains(normalize-space(.), "` + text + `")]`)
}

func dashRun(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		t.Fatalf("%s: %v\nat %s:\n%s", step, err, loc, body)
	}
}

func TestDashboardInChromium(t *testing.T) {
	cp := uptest.StartControlPlane(t)
	shots, err := filepath.Abs("../../test-artifacts/screenshots")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, foreign := dashBrowser(t, cp.URL)
	u := cp.URL

	// An administrator logs in, creates the organization, a team and a
	// user with the Viewer role.
	dashRun(t, ctx, "log in",
		chromedp.Navigate(u+"/"),
		dashHeading("Log in to Enclave"),
		dashShot(shots, "01-login"),
		chromedp.SendKeys(chromedp.ID("username"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), uptest.AdminPassword),
		chromedp.Submit(chromedp.ID("password")),
		dashHeading("Organizations"),
		chromedp.WaitVisible(`//p[contains(., "You belong to no organization yet")]`),
	)
	dashRun(t, ctx, "create the organization",
		chromedp.SendKeys(chromedp.ID("org-name"), "acme"),
		chromedp.SendKeys(chromedp.ID("org-desc"), "Research and production models"),
		chromedp.Submit(chromedp.ID("org-name")),
		dashHeading("Members of acme"),
		chromedp.Click(`//nav[@aria-label="Organization"]//a[.="Teams"]`),
		dashHeading("Teams of acme"),
		chromedp.SendKeys(chromedp.ID("t-name"), "ml-platform"),
		chromedp.Submit(chromedp.ID("t-name")),
		chromedp.WaitVisible(`//p[contains(., "Team created.")]`),
		chromedp.WaitVisible(`//td/a[.="ml-platform"]`),
		dashShot(shots, "02-teams"),
	)
	dashRun(t, ctx, "add a viewer",
		chromedp.Navigate(u+"/users"),
		dashHeading("Users"),
		chromedp.SendKeys(chromedp.ID("u-username"), "val"),
		chromedp.SendKeys(chromedp.ID("u-password"), "val-password-1"),
		chromedp.SendKeys(chromedp.ID("u-email"), "val@example.com"),
		chromedp.Submit(chromedp.ID("u-username")),
		chromedp.WaitVisible(`//td[.="val"]`),
		chromedp.Navigate(u+"/orgs"),
		chromedp.Click(`//td/a[.="acme"]`),
		chromedp.Click(`//nav[@aria-label="Organization"]//a[.="Members"]`),
		dashHeading("Members of acme"),
		chromedp.SendKeys(chromedp.ID("m-username"), "val"),
		chromedp.SetValue(chromedp.ID("m-role"), "Viewer"),
		chromedp.Submit(chromedp.ID("m-username")),
		chromedp.WaitVisible(`//tr[td[.="val"]]/td[.="Viewer"]`),
		dashShot(shots, "03-members"),
	)

	// Enroll a workspace; the page shows its key once, with Helm values.
	var key string
	dashRun(t, ctx, "enroll a workspace",
		chromedp.Click(`//nav[@aria-label="Organization"]//a[.="Workspaces"]`),
		dashHeading("Workspaces of acme"),
		chromedp.SendKeys(chromedp.ID("ws-name"), "research"),
		chromedp.Submit(chromedp.ID("ws-name")),
		dashHeading("Workspace research is enrolled"),
		dashShot(shots, "04-enrolled"),
	)
	key, err = chromedp.Run(ctx, chromedp.Value(chromedp.ID("enroll-key")))
	if err != nil {
		t.Fatal(err)
	}
	values, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("helm-values")))
	if err != nil {
		t.Fatal(err)
	}
	if len(key) < 20 || !strings.Contains(values, "enrollmentKey: \""+key+"\"") {
		t.Fatalf("enrollment key %q, values:\n%s", key, values)
	}

	// Install the workspace server with what the page showed.
	admin := cp.Admin(t)
	wss, err := admin.ListWorkspaces(context.Background(), "", "research")
	if err != nil || len(wss) != 1 {
		t.Fatalf("workspaces: %v, %v", wss, err)
	}
	rec := wss[0]
	rec.EnrollmentKey = key
	uptest.StartWorkspace(t, cp.URL, rec)
	uptest.WaitReported(t, admin, rec.ID)
	runID := dashPipelineRun(t, admin, rec.ID)

	dashRun(t, ctx, "browse the run",
		chromedp.Navigate(u+"/orgs/"+rec.Organization.ID+"/workspaces"),
		chromedp.WaitVisible(`//tr[td/a[.="research"]]//span[.="healthy"]`),
		dashShot(shots, "05-workspaces"),
		chromedp.Click(`//td/a[.="research"]`),
		chromedp.Click(`//nav[@aria-label="Workspace"]//a[.="Runs"]`),
		dashHeading("Runs"),
		chromedp.WaitVisible(`//tr[td//span[.="completed"]]/td/a[contains(@href, "`+runID+`")]`),
		dashShot(shots, "06-runs"),
		chromedp.Click(`//td/a[contains(@href, "`+runID+`")]`),
		chromedp.WaitVisible(chromedp.CSS(`figure.dag svg`)),
		chromedp.WaitVisible(chromedp.CSS(`svg a.node[aria-label="Step evaluate, completed"]`)),
		dashShot(shots, "07-run-dag"),
		chromedp.Click(chromedp.CSS(`svg a.node[aria-label="Step train, completed"]`)),
		dashHeading("Step train"),
		chromedp.WaitVisible(`//pre[@id="step-logs"][contains(., "rows 2")]`),
		chromedp.WaitVisible(`//section[h2[.="Inputs"]]//a[contains(., "data")]`),
		dashShot(shots, "08-step-logs"),
		chromedp.Navigate(u+"/workspaces/"+rec.ID+"/artifacts"),
		chromedp.WaitVisible(`//td/a[.="training.train.model"]`),
		dashShot(shots, "09-artifacts"),
	)
	dashRun(t, ctx, "a narrow window",
		chromedp.EmulateViewport(400, 800),
		chromedp.Navigate(u+"/workspaces/"+rec.ID+"/runs/"+runID),
		chromedp.WaitVisible(chromedp.CSS(`figure.dag svg`)),
		dashShot(shots, "10-run-narrow"),
		chromedp.EmulateViewport(1280, 900),
	)

	// The viewer sees the workspace and its runs but cannot create.
	dashRun(t, ctx, "the viewer",
		chromedp.Click(`//button[.="Log out"]`),
		dashHeading("Log in to Enclave"),
		chromedp.SendKeys(chromedp.ID("username"), "val"),
		chromedp.SendKeys(chromedp.ID("password"), "val-password-1"),
		chromedp.Submit(chromedp.ID("password")),
		dashHeading("Organizations"),
		chromedp.Navigate(u+"/workspaces/"+rec.ID+"/runs"),
		chromedp.WaitVisible(`//td/a[contains(@href, "`+runID+`")]`),
		chromedp.Navigate(u+"/orgs/"+rec.Organization.ID+"/workspaces"),
		chromedp.SendKeys(chromedp.ID("ws-name"), "viewer-made"),
		chromedp.Submit(chromedp.ID("ws-name")),
		chromedp.WaitVisible(`//p[@id="page-error" or @role="alert"][contains(., "Your role does not allow this")]`),
		dashShot(shots, "11-viewer-refused"),
	)
	if wss, _ := admin.ListWorkspaces(context.Background(), "", "viewer-made"); len(wss) != 0 {
		t.Fatal("the viewer created a workspace")
	}
	if f := foreign(); len(f) > 0 {
		t.Fatalf("the pages asked other hosts than %s: %v", u, f)
	}
}

// dashPipelineRun runs the YAML pipeline at the workspace with the runner of
// `enclave pipeline run`, as the administrator.
func dashPipelineRun(t *testing.T, admin *client.ControlPlane, wsID string) string {
	t.Helper()
	ctx := context.Background()
	rec, err := admin.GetWorkspace(ctx, wsID)
	if err != nil {
		t.Fatal(err)
	}
	wc := client.NewWorkspace(rec.Status.URL, "", &http.Client{Timeout: 30 * time.Second})
	if _, err := wc.LoginExternal(ctx, admin.Token); err != nil {
		t.Fatal(err)
	}
	spec, err := runner.Parse([]byte(dashPipeline))
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&runner.Runner{WS: wc, ArtifactDir: t.TempDir()}).Run(ctx, spec)
	if err != nil || res.Status != client.StatusCompleted {
		t.Fatalf("pipeline run: %+v, %v", res, err)
	}
	return res.RunID
}
