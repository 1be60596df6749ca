package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/uptest"
)

// lockedBuffer is a bytes.Buffer safe for the command and the test at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startUp runs `enclave up` on free ports until the test ends, and waits for
// the workspace to have reported itself to the control plane.
func startUp(t *testing.T, dir string, flags ...string) (upState, *lockedBuffer, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	root := newRootCmd(strings.NewReader(""), out, out)
	root.SetArgs(append([]string{"up", "--data-dir", dir, "--port", "0", "--workspace-port", "0", "--log-level", "warn"}, flags...))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("enclave up: %v", err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if strings.Contains(out.String(), "Press Ctrl-C to stop.") {
			st, err := readUpState(dir)
			if err == nil {
				cp := client.NewControlPlane(st.ControlPlaneURL, "", nil)
				if err := cp.Login(ctx, "admin", st.AdminPassword); err == nil {
					if ws, err := cp.GetWorkspace(ctx, st.Workspace.ID); err == nil && ws.Status.Health != "" {
						return st, out, stop
					}
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("enclave up ended: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("enclave up did not come up:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestUpRunsThePipelineAndKeepsData(t *testing.T) {
	// The real binary runs snapshots for the workspace of `enclave up` (the
	// test binary cannot).
	bin := uptest.BuildEnclave(t)
	defer func(prev func() (string, error)) { upRunner = prev }(upRunner)
	upRunner = func() (string, error) { return bin, nil }
	dir := filepath.Join(t.TempDir(), "data")
	st, out, stop := startUp(t, dir)
	if !strings.Contains(out.String(), "Log in as admin with the password "+st.AdminPassword) {
		t.Fatalf("first start does not say how to log in:\n%s", out.String())
	}
	if fi, err := os.Stat(filepath.Join(dir, "up.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("up.json: %v %v", fi, err)
	}

	// A pipeline run from the data folder, as the README shows.
	pipeline := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(pipeline, []byte("name: hello\nsteps:\n  - {name: say, command: 'echo saying hello; echo hello > \"$ENCLAVE_OUTPUT_GREETING\"', outputs: [greeting]}\n"), 0o600)
	pout := &lockedBuffer{}
	root := newRootCmd(strings.NewReader(""), pout, pout)
	root.SetArgs([]string{"pipeline", "run", pipeline, "--data-dir", dir, "--parallel", "2"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("pipeline run: %v\n%s", err, pout.String())
	}
	if !strings.Contains(pout.String(), "completed") {
		t.Fatalf("pipeline output:\n%s", pout.String())
	}
	runID := regexp.MustCompile(`run hello-\S+ \(([0-9a-f-]{36})\)`).FindStringSubmatch(pout.String())
	if runID == nil {
		t.Fatalf("no run id in:\n%s", pout.String())
	}

	// The runs, from the same data folder.
	cli := func(args ...string) (string, error) {
		out := &lockedBuffer{}
		root := newRootCmd(strings.NewReader(""), out, out)
		root.SetArgs(append(args, "--data-dir", dir))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	for _, c := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"pipeline", "runs", "list"}, []string{"NAME", "hello-", "completed", runID[1], "1 runs"}},
		{[]string{"pipeline", "runs", "list", "--status", "failed"}, []string{"0 runs"}},
		{[]string{"pipeline", "runs", "list", "--pipeline", "hello"}, []string{runID[1], "1 runs"}},
		{[]string{"pipeline", "runs", "get", runID[1]}, []string{"Status:", "completed", "STEP", "say"}},
		{[]string{"pipeline", "runs", "list", "--json"}, []string{`"total": 1`, `"id": "` + runID[1] + `"`}},
		{[]string{"pipeline", "runs", "get", runID[1], "--json"}, []string{`"run": {`, `"steps": [`, `"name": "say"`}},
		{[]string{"pipeline", "runs", "logs", runID[1], "--step", "say"}, []string{"saying hello"}},
	} {
		out, err := cli(c.args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", c.args, err, out)
		}
		for _, w := range c.wants {
			if !strings.Contains(out, w) {
				t.Fatalf("%v: no %q in\n%s", c.args, w, out)
			}
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"pipeline", "runs", "stop", runID[1]}, "already ended"},
		{[]string{"pipeline", "runs", "get", "00000000-0000-4000-8000-000000000000"}, "not found"},
		{[]string{"pipeline", "runs", "logs", runID[1], "--step", "nope"}, "has no step nope"},
		{[]string{"pipeline", "runs", "list", "--pipeline", "nope"}, "pipeline nope"},
		{[]string{"pipeline", "run", pipeline, "--parallel", "0"}, "--parallel must be at least 1"},
	} {
		if out, err := cli(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%v: %v, want an error with %q\n%s", c.args, err, c.want, out)
		}
	}
	stop()

	// The next start finds the same organization, workspace and run.
	st2, out2, stop2 := startUp(t, dir)
	defer stop2()
	if st2.Workspace.ID != st.Workspace.ID || st2.Organization.ID != st.Organization.ID || st2.AdminPassword != st.AdminPassword {
		t.Fatalf("second start changed identity: %+v vs %+v", st2, st)
	}
	if strings.Contains(out2.String(), st.AdminPassword) {
		t.Fatal("a later start printed the password again")
	}
	ctx := context.Background()
	cp := client.NewControlPlane(st2.ControlPlaneURL, "", nil)
	if err := cp.Login(ctx, "admin", st2.AdminPassword); err != nil {
		t.Fatal(err)
	}
	ws := client.NewWorkspace(st2.WorkspaceURL, "", nil)
	if _, err := ws.LoginExternal(ctx, cp.Token); err != nil {
		t.Fatal(err)
	}
	runs, err := ws.ListRuns(ctx, &client.ListOptions{})
	if err != nil || runs.Total != 1 || runs.Items[0].Body.Status != client.StatusCompleted {
		t.Fatalf("runs after restart: %+v, %v", runs, err)
	}

	// "Run again" runs the run's snapshot on this machine, its artifacts
	// where 'pipeline run' keeps them.
	againOut, err := cli("pipeline", "runs", "again", runID[1])
	if err != nil {
		t.Fatalf("again: %v\n%s", err, againOut)
	}
	againID := regexp.MustCompile(`\(([0-9a-f-]{36})\) started from the snapshot`).FindStringSubmatch(againOut)
	if againID == nil {
		t.Fatalf("again printed no run id:\n%s", againOut)
	}
	for i := 0; ; i++ {
		r, err := ws.GetRun(ctx, againID[1], false)
		if err != nil {
			t.Fatal(err)
		}
		if r.Body.Status == client.StatusCompleted {
			break
		}
		if i == 600 || !r.Body.InProgress {
			logs, _ := ws.RunLogs(ctx, againID[1])
			t.Fatalf("the run again is %s, want completed; its log:\n%s", r.Body.Status, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if logs, _ := ws.RunLogs(ctx, againID[1]); !strings.Contains(logs, "workload manager: starting the runner process") ||
		!strings.Contains(logs, "runner: step say completed") || !strings.Contains(logs, "runner finished: completed") {
		t.Fatalf("the run again's log:\n%s", logs)
	}
	steps, err := ws.ListRunSteps(ctx, againID[1], &client.ListOptions{Hydrate: true})
	if err != nil || len(steps.Items) != 1 || len(steps.Items[0].Body.Outputs["greeting"]) != 1 {
		t.Fatalf("steps of the run again: %+v, %v", steps, err)
	}
	av, err := ws.GetArtifactVersion(ctx, steps.Items[0].Body.Outputs["greeting"][0], false)
	if err != nil || !strings.HasPrefix(av.Body.URI, "file://"+filepath.Join(dir, "artifacts")+"/") {
		t.Fatalf("the run again's output: %+v, %v; want it in %s", av.Body, err, filepath.Join(dir, "artifacts"))
	}

	// A run in progress stops from the terminal.
	going, err := ws.CreateRun(ctx, client.RunRequest{Name: "going", Snapshot: runs.Items[0].Body.SnapshotID,
		Project: runs.Items[0].Body.ProjectID, Status: client.StatusRunning})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cli("pipeline", "runs", "stop", going.ID); err != nil || !strings.Contains(out, "stopped") {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	if r, err := ws.GetRun(ctx, going.ID, false); err != nil || r.Body.Status != client.StatusStopped {
		t.Fatalf("run after stop: %+v %v", r.Body, err)
	}

	// --follow prints a run's log as it grows, until the run ends.
	tailed, err := ws.CreateRun(ctx, client.RunRequest{Name: "tailed", Snapshot: runs.Items[0].Body.SnapshotID,
		Project: runs.Items[0].Body.ProjectID, Status: client.StatusRunning})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.AppendRunLogs(ctx, tailed.ID, "first line\n"); err != nil {
		t.Fatal(err)
	}
	followed := make(chan string, 1)
	go func() {
		out, err := cli("pipeline", "runs", "logs", tailed.ID, "--follow", "--every", "50ms")
		if err != nil {
			out += err.Error()
		}
		followed <- out
	}()
	time.Sleep(300 * time.Millisecond)
	if err := ws.AppendRunLogs(ctx, tailed.ID, "second line\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := ws.AppendRunLogs(ctx, tailed.ID, "last line\n"); err != nil {
		t.Fatal(err)
	}
	completed := client.StatusCompleted
	if _, err := ws.UpdateRun(ctx, tailed.ID, client.RunUpdate{Status: &completed}); err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-followed:
		if out != "first line\nsecond line\nlast line\n" {
			t.Fatalf("followed log: %q", out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("--follow did not end with the run")
	}
}

// Running snapshots again as local processes is on when only this machine
// reaches the servers, and otherwise off unless asked for: the snapshots'
// commands would run as the user of `enclave up` for whoever reaches them.
func TestUpLocalRunsFollowTheHost(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "127.0.0.2": true,
		"0.0.0.0": false, "::": false, "192.168.1.20": false, "build-box": false} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
	dir := filepath.Join(t.TempDir(), "data")
	_, out, stop := startUp(t, dir, "--local-runs=false")
	defer stop()
	if !strings.Contains(out.String(), "Running snapshots again is off") {
		t.Fatalf("the banner does not say running again is off:\n%s", out.String())
	}
	pipeline := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(pipeline, []byte("name: hello\nsteps:\n  - {name: say, command: 'echo hello'}\n"), 0o600)
	pout := &lockedBuffer{}
	root := newRootCmd(strings.NewReader(""), pout, pout)
	root.SetArgs([]string{"pipeline", "run", pipeline, "--data-dir", dir})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("pipeline run: %v\n%s", err, pout.String())
	}
	runID := regexp.MustCompile(`\(([0-9a-f-]{36})\)`).FindStringSubmatch(pout.String())
	if runID == nil {
		t.Fatalf("no run id in:\n%s", pout.String())
	}
	aout := &lockedBuffer{}
	root = newRootCmd(strings.NewReader(""), aout, aout)
	root.SetArgs([]string{"pipeline", "runs", "again", runID[1], "--data-dir", dir})
	if err := root.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "running snapshots is not configured") {
		t.Fatalf("again with local runs off: %v\n%s", err, aout.String())
	}
}
