package runner

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/procgroup"
)

// runLog adds a line, with the time, to run runID's own log: what
// `enclave pipeline runs logs RUN_ID` and the dashboard show of the run as
// a whole (each step's output is in the step's log).
func (r *Runner) runLog(ctx context.Context, runID, line string) error {
	return r.WS.AppendRunLogs(ctx, runID, time.Now().UTC().Format(time.RFC3339)+" "+line+"\n")
}

// stepEvent prints what became of a step, and adds it to the run's log. A
// line the workspace does not take is not worth failing the run for: the
// step's own record says the same.
func (r *Runner) stepEvent(ctx context.Context, runID, step, what string) {
	r.printf("  %-20s %s\n", step, what)
	_ = r.runLog(context.WithoutCancel(ctx), runID, "runner: step "+step+" "+what)
}

// logSink collects a step's output and sends it to the workspace in chunks,
// so that a long step's logs appear while it runs.
type logSink struct {
	ws     *client.Workspace
	stepID string
	mu     sync.Mutex
	buf    bytes.Buffer
	err    error
	tail   procgroup.Tail // the last 2 KiB, to show when the step fails
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "      | " + strings.ReplaceAll(s, "\n", "\n      | ") + "\n"
}

const logChunk = 32 << 10

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.tail.Write(p)
	if l.buf.Len() >= logChunk && l.err == nil {
		l.err = l.ws.AppendStepLogs(context.Background(), l.stepID, l.buf.String())
		l.buf.Reset()
	}
	return len(p), nil
}

func (l *logSink) flush(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if l.buf.Len() == 0 {
		return nil
	}
	err := l.ws.AppendStepLogs(ctx, l.stepID, l.buf.String())
	l.buf.Reset()
	return err
}

// logStart adds the run's first line to its log. It is the runner's first
// write to the run, so a runner that may not write to it stops here,
// before any step has run.
func (r *Runner) logStart(ctx context.Context, runID string, spec *Spec, steps int) error {
	if err := r.runLog(ctx, runID, fmt.Sprintf("runner started: %d steps of pipeline %s", steps, spec.Name)); err != nil {
		return fmt.Errorf("record the run's log: %w", err)
	}
	return nil
}

// logEnd adds the run's last line to its log, before the run is ended.
func (r *Runner) logEnd(ctx context.Context, runID, status string) {
	_ = r.runLog(context.WithoutCancel(ctx), runID, "runner finished: "+status)
}
