package errs

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindThroughWrapping(t *testing.T) {
	base := E(NotFound, "run %s not found", "r1")
	wrapped := fmt.Errorf("loading: %w", base)
	if got := KindOf(wrapped); got != NotFound {
		t.Fatalf("KindOf = %v, want not found", got)
	}
	if got := Message(wrapped); got != "run r1 not found" {
		t.Fatalf("Message = %q", got)
	}
	if !Is(wrapped, NotFound) || Is(wrapped, Conflict) || Is(nil, NotFound) {
		t.Fatal("Is disagrees with KindOf")
	}
}

func TestInternalDetailsHidden(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.1:5432: connection refused")
	if got := Message(cause); got != "internal server error" {
		t.Fatalf("plain error leaked: %q", got)
	}
	w := Wrap(Other, cause, "db down")
	if got := Message(w); got != "internal server error" {
		t.Fatalf("Other kind leaked: %q", got)
	}
	if !errors.Is(w, cause) {
		t.Fatal("Wrap lost the cause")
	}
}
