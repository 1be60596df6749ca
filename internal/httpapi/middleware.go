package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enclave-mlops/enclave/internal/errs"
)

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// Chain applies middleware so that the first listed runs first.
func Chain(h http.Handler, mw ...Middleware) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

type ctxKey int

const requestKey ctxKey = iota

// requestInfo is what WithRequest attaches to a request. The logger that
// carries the request id is built only when something logs: most requests
// never do, and building it costs allocations on every hot path.
type requestInfo struct {
	id   string
	base *slog.Logger
	once sync.Once
	log  *slog.Logger
}

func (ri *requestInfo) logger() *slog.Logger {
	ri.once.Do(func() { ri.log = ri.base.With("request_id", ri.id) })
	return ri.log
}

var discard = slog.New(slog.DiscardHandler)

// Logger returns the request's logger (with its request id), or a discarding one.
func Logger(ctx context.Context) *slog.Logger {
	if ri, ok := ctx.Value(requestKey).(*requestInfo); ok {
		return ri.logger()
	}
	return discard
}

// logEnabled reports whether the request's logger would write at level,
// without building it.
func logEnabled(ctx context.Context, level slog.Level) bool {
	ri, ok := ctx.Value(requestKey).(*requestInfo)
	return ok && ri.base.Enabled(ctx, level)
}

// RequestID returns the id middleware gave the request.
func RequestID(ctx context.Context) string {
	if ri, ok := ctx.Value(requestKey).(*requestInfo); ok {
		return ri.id
	}
	return ""
}

// Request ids are a random prefix chosen at start and a counter: unique in a
// process and across replicas, and far cheaper than random bytes per request.
var (
	idPrefix = func() string {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}()
	idCounter atomic.Uint64
)

func newRequestID() string {
	return idPrefix + "-" + strconv.FormatUint(idCounter.Add(1), 36)
}

// WithRequest gives each request an id (kept from X-Request-Id when sane) and
// a logger that carries it.
func WithRequest(log *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("X-Request-Id")
			if len(id) == 0 || len(id) > 64 {
				id = newRequestID()
			}
			w.Header().Set("X-Request-Id", id)
			ctx := context.WithValue(r.Context(), requestKey, &requestInfo{id: id, base: log})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// Recover turns a panic in a handler into a logged 500 instead of a dropped
// connection.
func Recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				Logger(r.Context()).Error("panic", "value", v, "stack", string(debug.Stack()))
				WriteError(w, r, errs.E(errs.Other, "internal server error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// LimitBody caps every request body at n bytes.
func LimitBody(n int64) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				WriteError(w, r, errs.E(errs.TooLarge, "request body is larger than %d bytes", n))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r)
		})
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// AccessLog logs one line per request at debug level, and at info for errors.
func AccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		level := slog.LevelDebug
		if rec.status >= 400 {
			level = slog.LevelInfo
		}
		if !logEnabled(r.Context(), level) {
			return
		}
		Logger(r.Context()).Log(r.Context(), level, "request",
			"method", r.Method, "path", r.URL.Path, "status", rec.status,
			"bytes", rec.bytes, "duration", time.Since(start))
	})
}

// SecurityHeaders sets the headers every answer should carry.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// Health answers GET and HEAD /health with 200 and a small JSON body.
func Health(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, "OK")
}
