package enroll

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestPrompter(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	hidden := 0
	p := NewPrompter(strings.NewReader("\n  spaced  \n\nY\n"), &out, func(_ context.Context, prompt func()) (string, error) {
		prompt()
		hidden++
		return " secret with blanks ", nil
	})
	// No default: the empty answer is refused and the question asked again.
	if a, err := p.Ask(ctx, "Name", ""); err != nil || a != "spaced" {
		t.Fatalf("Ask = %q, %v", a, err)
	}
	if a, err := p.Ask(ctx, "Size", "10"); err != nil || a != "10" {
		t.Fatalf("Ask with default = %q, %v", a, err)
	}
	if yes, err := p.Confirm(ctx, "Go on?"); err != nil || !yes {
		t.Fatalf("Confirm = %v, %v", yes, err)
	}
	// A password is kept as typed, read by the hidden reader.
	if a, err := p.AskPassword(ctx, "Password"); err != nil || a != " secret with blanks " || hidden != 1 {
		t.Fatalf("AskPassword = %q, %v (hidden reads %d)", a, err, hidden)
	}
	want := "Name: Please provide a value.\nName: Size [10]: Go on? (y/n) [n]: Password: \n"
	if out.String() != want {
		t.Fatalf("printed %q, want %q", out.String(), want)
	}
	if _, err := p.Ask(ctx, "More", ""); err != errNoInput {
		t.Fatalf("Ask at end of input: %v", err)
	}
}

// Ctrl-C at a question ends the wait; it does not hang until Enter.
func TestPrompterCanceled(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	p := NewPrompter(r, io.Discard, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Ask(ctx, "Name", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ask after cancel: %v", err)
	}
}
