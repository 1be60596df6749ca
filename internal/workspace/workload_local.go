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

	"github.com/enclave-mlops/enclave/internal/procgroup"
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
	out := &procgroup.Tail{Max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, which the terminal's Ctrl-C does not reach:
	// when the server stops, the group is interrupted as a terminal would
	// interrupt 'enclave pipeline run', so that the runner records its
	// steps and run as stopped; stopping the run at once kills the group.
	procgroup.Own(cmd, syscall.SIGINT, 10*time.Second)
	if err := cmd.Start(); err != nil {
		return err
	}
	started()
	l.procs[runID] = cmd
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		err := cmd.Wait()
		_ = procgroup.Signal(cmd, syscall.SIGKILL) // what the runner left running
		l.mu.Lock()
		delete(l.procs, runID)
		l.mu.Unlock()
		reason := ""
		if err != nil {
			reason = err.Error() // "exit status 3", "signal: killed"
		}
		ended(err != nil, reason, tailText(out))
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
	return procgroup.Signal(cmd, syscall.SIGKILL)
}

// tailText is what a runner wrote last, for the run's log: "…" says that
// more came before.
func tailText(t *procgroup.Tail) string {
	s := strings.TrimRight(t.String(), "\n")
	if t.Cut() && s != "" {
		s = "…" + s
	}
	return s
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
