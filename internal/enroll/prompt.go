package enroll

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Prompter asks questions the way the seed's script does: "text [default]: ",
// an empty answer takes the default, and with no default the question is asked
// again after "Please provide a value.".
type Prompter struct {
	in  *bufio.Reader
	out io.Writer
	// readPassword prints the question with prompt and reads a line without
	// echo; nil reads it like any answer.
	readPassword func(ctx context.Context, prompt func()) (string, error)
}

// NewPrompter asks on out and reads answers from in. readPassword, when not
// nil, reads hidden input (golang.org/x/term on a terminal). It calls prompt
// to print the question, so that a terminal can turn echo off first: what is
// typed ahead of the question must not show either.
func NewPrompter(in io.Reader, out io.Writer, readPassword func(ctx context.Context, prompt func()) (string, error)) *Prompter {
	return &Prompter{in: bufio.NewReader(in), out: out, readPassword: readPassword}
}

// errNoInput is the end of input while a question waits for an answer.
var errNoInput = errors.New("input ended before all questions were answered")

// Ask asks text and returns the answer, or def for an empty one. It returns
// ctx's error when ctx ends first (Ctrl-C at a question).
func (p *Prompter) Ask(ctx context.Context, text, def string) (string, error) {
	return p.ask(ctx, text, def, false)
}

// AskPassword asks without echoing the answer.
func (p *Prompter) AskPassword(ctx context.Context, text string) (string, error) {
	return p.ask(ctx, text, "", true)
}

func (p *Prompter) ask(ctx context.Context, text, def string, hidden bool) (string, error) {
	prompt := func() {
		if def != "" {
			fmt.Fprintf(p.out, "%s [%s]: ", text, def)
		} else {
			fmt.Fprintf(p.out, "%s: ", text)
		}
	}
	for {
		var answer string
		var err error
		if hidden && p.readPassword != nil {
			answer, err = p.readPassword(ctx, prompt)
			fmt.Fprintln(p.out) // the Enter was not echoed
		} else {
			prompt()
			answer, err = p.line(ctx)
		}
		if err != nil {
			return "", err
		}
		// The seed keeps the answer as typed; only an all-blank one is empty.
		// Surrounding blanks are dropped here: no answer wants them, and a
		// pasted URL or id often carries one.
		if strings.TrimSpace(answer) == "" {
			if def != "" {
				return def, nil
			}
			fmt.Fprintln(p.out, "Please provide a value.")
			continue
		}
		if hidden {
			return answer, nil
		}
		return strings.TrimSpace(answer), nil
	}
}

// line reads one line, or gives up when ctx ends. A read given up on stays
// blocked until input comes; the command ends before then.
func (p *Prompter) line(ctx context.Context) (string, error) {
	type read struct {
		s   string
		err error
	}
	ch := make(chan read, 1)
	go func() {
		s, err := p.in.ReadString('\n')
		ch <- read{s, err}
	}()
	var s string
	var err error
	select {
	case r := <-ch:
		s, err = r.s, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if err != nil && (s == "" || !errors.Is(err, io.EOF)) {
		if errors.Is(err, io.EOF) {
			return "", errNoInput
		}
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// Confirm asks a (y/n) question whose default is n, as the seed does, and
// reports whether the answer was y.
func (p *Prompter) Confirm(ctx context.Context, text string) (bool, error) {
	a, err := p.Ask(ctx, text+" (y/n)", "n")
	if err != nil {
		return false, err
	}
	return strings.EqualFold(a, "y"), nil
}
