// Package httpapi is the HTTP plumbing both servers share: the one place an
// error becomes an HTTP answer, strict JSON and form decoding, middleware,
// health, and a server with sane timeouts. It knows no domain.
package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/enclave-mlops/enclave/internal/errs"
)

// ErrorBody is the wire shape of every error: {"detail": [class, message]},
// as the original system's clients expect.
type ErrorBody struct {
	Detail [2]string `json:"detail"`
}

type kindInfo struct {
	status int
	class  string
}

var kinds = map[errs.Kind]kindInfo{
	errs.Invalid:         {http.StatusUnprocessableEntity, "ValidationError"},
	errs.NotFound:        {http.StatusNotFound, "KeyError"},
	errs.Conflict:        {http.StatusConflict, "EntityExistsError"},
	errs.Forbidden:       {http.StatusForbidden, "IllegalOperationError"},
	errs.Unauthenticated: {http.StatusUnauthorized, "AuthorizationException"},
	errs.TooMany:         {http.StatusTooManyRequests, "TooManyRequestsError"},
	errs.TooLarge:        {http.StatusRequestEntityTooLarge, "ValidationError"},
	errs.Unsupported:     {http.StatusUnsupportedMediaType, "ValidationError"},
	errs.Unavailable:     {http.StatusServiceUnavailable, "ServiceUnavailableError"},
	errs.NotAllowed:      {http.StatusMethodNotAllowed, "MethodNotAllowedError"},
	errs.Other:           {http.StatusInternalServerError, "RuntimeError"},
}

// Status returns the HTTP status for err.
func Status(err error) int { return kinds[errs.KindOf(err)].status }

// WriteError answers with err in the wire's error shape. Server errors are
// logged with their cause; clients see only a generic message for them.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	info := kinds[errs.KindOf(err)]
	if info.status >= 500 {
		Logger(r.Context()).Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if info.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer`)
	}
	writeJSON(w, info.status, ErrorBody{Detail: [2]string{info.class, errs.Message(err)}})
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	writeJSON(w, status, v)
}

// WriteJSONBytes answers with b, a JSON document that ends in a newline as
// WriteJSON's do. Its length is known, so a large answer is sent whole
// rather than in chunks.
func WriteJSONBytes(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// HandlerFunc is a handler that returns its error instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle turns h into an http.Handler that writes h's error, if any, through
// WriteError.
func Handle(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(w, r, err)
		}
	})
}

// NoRoute is the handler of the requests no route of mux takes, in the
// error shape: 405, with the methods the path does take in Allow, when
// routes of mux take the path with other methods; else 404. (A catch-all
// route of a ServeMux takes every request its routes do not, so the mux's
// own 405 never comes.)
func NoRoute(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if m == r.Method {
				continue
			}
			probe := *r
			probe.Method = m
			if _, pattern := mux.Handler(&probe); strings.HasPrefix(pattern, m+" ") {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			WriteError(w, r, errs.E(errs.NotAllowed, "%s %s: the path takes %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		WriteError(w, r, errs.E(errs.NotFound, "no route for %s %s", r.Method, r.URL.Path))
	}
}
