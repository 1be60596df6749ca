package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// localRunners is the workload manager's launcher with the source "local":
// each snapshot run's runner is a process of the server's machine,
// `enclave pipeline run-snapshot`, given what a runner Job is given. It is
// for one person's machine (`enclave up`): the snapshots' commands run as
// the server's user, with no isolation but a process group.
//
// A runner reports its own progress. When its process ends, its slot is
// free; a run it did not end is marked failed (or stopped, if it was
// stopping), with the exit status and the tail of what the process wrote
// in the run's log, as for a Job that fails. When the server stops, the
// runners are interrupted and the server waits for them: each ends its run.
type localRunners struct {
	binary string   // the enclave binary
	env    []string // what every runner's environment starts with
	mu     sync.Mutex
	life   context.Context      // the server's: runners are interrupted when it ends
	closed bool                 // the server has stopped: no more runners
	procs  map[string]*exec.Cmd // by run id, while running
	wg     sync.WaitGroup
}

// localEnv are the variables of the server's environment a runner keeps:
// what a command needs to run (not the server's secrets or settings).
var localEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"}

func newLocalRunners(cfg *WorkloadConfig) (*localRunners, error) {
	bin := cfg.LocalRunner
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("workload manager: find this binary to run snapshots with (or set ENCLAVE_LOCAL_RUNNER): %w", err)
		}
		bin = exe
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("workload manager: %s is not an executable enclave binary (ENCLAVE_LOCAL_RUNNER)", bin)
	}
	l := &localRunners{binary: bin, life: context.Background(), procs: map[string]*exec.Cmd{}}
	for _, k := range localEnv {
		if v, ok := os.LookupEnv(k); ok {
			l.env = append(l.env, k+"="+v)
		}
	}
	if cfg.ArtifactStore != "" {
		l.env = append(l.env, "ENCLAVE_ARTIFACT_STORE="+cfg.ArtifactStore)
	}
	return l, nil
}

// run starts the runner of runID with env (the token among it), calls
// started once it has, and ended with how it went once its process has
// ended (never before started has returned).
func (l *localRunners) run(runID string, env map[string]string, started func(), ended func(failed bool, reason, output string)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.life.Err() != nil {
		return errors.New("the server is stopping")
	}
	cmd := exec.CommandContext(l.life, l.binary, "pipeline", "run-snapshot")
	cmd.Env = append([]string(nil), l.env...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &tailWriter{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, which the terminal's Ctrl-C does not reach:
	// when the server stops, the group is interrupted as a terminal would
	// interrupt 'enclave pipeline run', so that the runner records its
	// steps and run as stopped; stopping the run at once kills the group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return signalGroup(cmd, syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	started()
	l.procs[runID] = cmd
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		err := cmd.Wait()
		_ = signalGroup(cmd, syscall.SIGKILL) // what the runner left running
		l.mu.Lock()
		delete(l.procs, runID)
		l.mu.Unlock()
		reason := ""
		if err != nil {
			reason = err.Error() // "exit status 3", "signal: killed"
		}
		ended(err != nil, reason, out.String())
	}()
	return nil
}

// kill ends the runner of runID and the commands it started at once, if it
// runs.
func (l *localRunners) kill(runID string) error {
	l.mu.Lock()
	cmd := l.procs[runID]
	l.mu.Unlock()
	if cmd == nil {
		return nil
	}
	return signalGroup(cmd, syscall.SIGKILL)
}

// signalGroup sends sig to the process group cmd leads; a group already
// gone is no error.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// bind ties the runners to ctx, the server's life: they are interrupted
// when it ends. The server binds them before it serves.
func (l *localRunners) bind(ctx context.Context) {
	l.mu.Lock()
	l.life = ctx
	l.mu.Unlock()
}

// wait starts no more runners, and waits for those running to end.
func (l *localRunners) wait() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.wg.Wait()
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	b   []byte
	cut bool
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b, t.cut = append(t.b[:0], t.b[over:]...), true
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimRight(string(t.b), "\n")
	if t.cut && s != "" {
		s = "…" + s
	}
	return s
}
