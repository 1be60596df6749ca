// Package errs gives domain errors a kind, so that the code that finds a
// problem says what sort of problem it is and one place (internal/httpapi)
// decides what a client sees. It imports nothing else of ours.
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the client.
type Kind int

const (
	Other           Kind = iota // an internal failure: 500, details only in the log
	Invalid                     // the request is malformed or fails validation: 400/422
	NotFound                    // the thing asked for does not exist (or is not visible): 404
	Conflict                    // it exists already, or the state forbids the change: 409
	Forbidden                   // authenticated but not allowed: 403
	Unauthenticated             // no or bad credentials: 401
	TooMany                     // rate or concurrency limit: 429
	TooLarge                    // body over the limit: 413
	Unsupported                 // wrong content type: 415
	Unavailable                 // a dependency is down: 503
	NotAllowed                  // the path exists, but not with this method: 405
)

var kindNames = map[Kind]string{
	Other: "internal", Invalid: "invalid", NotFound: "not found", Conflict: "conflict",
	Forbidden: "forbidden", Unauthenticated: "unauthenticated", TooMany: "too many requests",
	TooLarge: "too large", Unsupported: "unsupported media type", Unavailable: "unavailable",
	NotAllowed: "method not allowed",
}

func (k Kind) String() string { return kindNames[k] }

// Error is an error with a kind and a message meant for the client.
type Error struct {
	Kind Kind
	Msg  string
	Err  error // the cause, for the log; never shown to clients
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Msg != "":
		return e.Msg + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// E makes an error of the given kind with a formatted client message.
func E(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap gives err a kind and a client message, keeping it as the cause.
func Wrap(kind Kind, err error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Err: err}
}

// KindOf returns the kind of the first *Error in err's chain, or Other.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Other
}

// Is reports whether err has the given kind.
func Is(err error, kind Kind) bool { return err != nil && KindOf(err) == kind }

// Message returns the client message of err: its own for a kinded error, a
// generic one otherwise so that internal details never leak.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != Other {
		if e.Msg != "" {
			return e.Msg
		}
		return e.Kind.String()
	}
	return "internal server error"
}
