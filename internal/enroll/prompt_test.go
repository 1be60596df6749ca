package enroll

import (
	"bytes"
	"strings"
	"testing"
)

func TestPrompter(t *testing.T) {
	var out bytes.Buffer
	hidden := 0
	p := NewPrompter(strings.NewReader("\n  spaced  \n\nY\n"), &out, func(prompt func()) (string, error) {
		prompt()
		hidden++
		return " secret with blanks ", nil
	})
	// No default: the empty answer is refused and the question asked again.
	if a, err := p.Ask("Name", ""); err != nil || a != "spaced" {
		t.Fatalf("Ask = %q, %v", a, err)
	}
	if a, err := p.Ask("Size", "10"); err != nil || a != "10" {
		t.Fatalf("Ask with default = %q, %v", a, err)
	}
	if yes, err := p.Confirm("Go on?"); err != nil || !yes {
		t.Fatalf("Confirm = %v, %v", yes, err)
	}
	// A password is kept as typed, read by the hidden reader.
	if a, err := p.AskPassword("Password"); err != nil || a != " secret with blanks " || hidden != 1 {
		t.Fatalf("AskPassword = %q, %v (hidden reads %d)", a, err, hidden)
	}
	want := "Name: Please provide a value.\nName: Size [10]: Go on? (y/n) [n]: Password: \n"
	if out.String() != want {
		t.Fatalf("printed %q, want %q", out.String(), want)
	}
	if _, err := p.Ask("More", ""); err != errNoInput {
		t.Fatalf("Ask at end of input: %v", err)
	}
}
