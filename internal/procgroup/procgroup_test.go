package procgroup

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A command that owns its group takes what it started with it when its
// context ends, and Signal reaches the group after the command has gone.
func TestOwnEndsTheGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `sleep 60 & echo $! > "$0"; wait`, pidFile)
	Own(cmd, syscall.SIGTERM, 5*time.Second)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var child int
	for range 500 {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if child == 0 {
		t.Fatal("the command never started its child")
	}
	cancel()
	if err := cmd.Wait(); err == nil {
		t.Fatal("an interrupted command ended well")
	}
	// Had only the shell been signalled, its sleep would live on.
	for i := 0; syscall.Kill(child, 0) == nil; i++ {
		if i == 500 {
			t.Fatal("the command's child still runs")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := Signal(cmd, syscall.SIGKILL); err != nil {
		t.Fatalf("Signal to a group gone: %v", err)
	}
	if err := Signal(exec.Command("true"), syscall.SIGKILL); err != nil {
		t.Fatalf("Signal to a command not started: %v", err)
	}
}

func TestTailKeepsTheLastBytes(t *testing.T) {
	tl := &Tail{Max: 8}
	tl.Write([]byte("abc"))
	if tl.String() != "abc" || tl.Cut() {
		t.Fatalf("%q cut=%v", tl.String(), tl.Cut())
	}
	if n, err := tl.Write([]byte("defghijk")); n != 8 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if tl.String() != "defghijk" || !tl.Cut() {
		t.Fatalf("%q cut=%v", tl.String(), tl.Cut())
	}
}
