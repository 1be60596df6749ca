// Package procgroup runs a command as the leader of a process group of its
// own, so that ending the command ends what it started too, and keeps the
// tail of what a command writes. The runner runs step commands so, and the
// workspace server its local runners.
package procgroup

import (
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Own makes cmd, not yet started, lead a process group of its own: when its
// context ends, the whole group gets sig, and cmd is killed if it has not
// ended grace later. A terminal's Ctrl-C does not reach the group.
func Own(cmd *exec.Cmd, sig syscall.Signal, grace time.Duration) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return Signal(cmd, sig) }
	cmd.WaitDelay = grace
}

// Signal sends sig to the process group cmd leads. A command not started,
// or a group already gone, is no error.
func Signal(cmd *exec.Cmd, sig syscall.Signal) error {
	if cmd.Process == nil {
		return nil
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// Tail keeps the last Max bytes written to it. It is safe for concurrent
// use.
type Tail struct {
	Max int
	mu  sync.Mutex
	b   []byte
	cut bool
}

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.Max; over > 0 {
		t.b, t.cut = append(t.b[:0], t.b[over:]...), true
	}
	return len(p), nil
}

// String returns what is kept.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// Cut reports whether more was written than is kept.
func (t *Tail) Cut() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cut
}
