package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/enclave-mlops/enclave/internal/errs"
)

func TestWriteErrorMapsKinds(t *testing.T) {
	cases := []struct {
		err    error
		status int
		class  string
		msg    string
	}{
		{errs.E(errs.NotFound, "run r1 not found"), 404, "KeyError", "run r1 not found"},
		{errs.E(errs.Conflict, "exists"), 409, "EntityExistsError", "exists"},
		{errs.E(errs.Forbidden, "no"), 403, "IllegalOperationError", "no"},
		{errs.E(errs.Unauthenticated, "who"), 401, "AuthorizationException", "who"},
		{errs.E(errs.Invalid, "bad"), 422, "ValidationError", "bad"},
		{errs.E(errs.TooMany, "slow down"), 429, "TooManyRequestsError", "slow down"},
		{errors.New("pq: connection refused to 10.0.0.5"), 500, "RuntimeError", "internal server error"},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		WriteError(rec, httptest.NewRequest("GET", "/x", nil), c.err)
		var body ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: body %q", c.err, rec.Body.String())
		}
		if rec.Code != c.status || body.Detail[0] != c.class || body.Detail[1] != c.msg {
			t.Errorf("%v: %d %v, want %d [%s %s]", c.err, rec.Code, body.Detail, c.status, c.class, c.msg)
		}
		if c.status == 401 && rec.Header().Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	}
}

// A path that routes take with other methods answers 405 with those
// methods in Allow; a path no route takes, 404; both in the error shape.
func TestNoRoute(t *testing.T) {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, r *http.Request) {}
	mux.HandleFunc("GET /api/runs", ok)
	mux.HandleFunc("POST /api/runs", ok)
	mux.HandleFunc("GET /api/runs/{id}", ok)
	mux.HandleFunc("DELETE /api/runs/{id}", ok)
	mux.HandleFunc("/", NoRoute(mux))
	cases := []struct {
		method, path string
		status       int
		allow, class string
	}{
		{"DELETE", "/api/runs", 405, "GET, POST", "MethodNotAllowedError"},
		{"PUT", "/api/runs/r1", 405, "GET, DELETE", "MethodNotAllowedError"},
		{"GET", "/api/nothing", 404, "", "KeyError"},
		{"POST", "/api/runs/r1/steps", 404, "", "KeyError"},
		{"GET", "/api/runs", 200, "", ""},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status || rec.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: %d, Allow %q; want %d, %q", c.method, c.path, rec.Code, rec.Header().Get("Allow"), c.status, c.allow)
			continue
		}
		if c.status == 200 {
			continue
		}
		var body ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Detail[0] != c.class {
			t.Errorf("%s %s: body %q, want the class %s", c.method, c.path, rec.Body.String(), c.class)
		}
	}
}

func decodeWith(ct, body string) error {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	var v struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	return DecodeJSON(r, &v)
}

func TestDecodeJSON(t *testing.T) {
	if err := decodeWith("application/json; charset=utf-8", `{"name":"a","n":1}`); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		ct, body string
		kind     errs.Kind
		msg      string
	}{
		"no content type":  {"", `{}`, errs.Unsupported, "Content-Type"},
		"form":             {"application/x-www-form-urlencoded", `name=a`, errs.Unsupported, "application/json"},
		"empty":            {"application/json", ``, errs.Invalid, "empty"},
		"truncated":        {"application/json", `{"name":`, errs.Invalid, "truncated"},
		"syntax":           {"application/json", `{"name" "a"}`, errs.Invalid, "malformed"},
		"unknown field":    {"application/json", `{"nam":"a"}`, errs.Invalid, `unknown field "nam"`},
		"wrong type":       {"application/json", `{"n":"x"}`, errs.Invalid, `field "n"`},
		"two values":       {"application/json", `{} {}`, errs.Invalid, "more than one"},
		"trailing garbage": {"application/json", `{} x`, errs.Invalid, ""},
		"array for object": {"application/json", `[]`, errs.Invalid, "must be"},
	}
	for name, c := range cases {
		err := decodeWith(c.ct, c.body)
		if errs.KindOf(err) != c.kind || !strings.Contains(errs.Message(err), c.msg) {
			t.Errorf("%s: %v (kind %v), want kind %v with %q", name, err, errs.KindOf(err), c.kind, c.msg)
		}
	}
}

// TestDecodeJSONIgnoringUnknown: unknown fields are skipped, whatever they
// hold; everything else is refused as by DecodeJSON.
func TestDecodeJSONIgnoringUnknown(t *testing.T) {
	decode := func(body string) (struct{ Name string }, error) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var v struct{ Name string }
		return v, DecodeJSONIgnoringUnknown(r, &v)
	}
	v, err := decode(`{"nam": "a", "name": "b", "later": {"x": [1, null]}, "gone": null}`)
	if err != nil || v.Name != "b" {
		t.Fatalf("%+v, %v", v, err)
	}
	for _, body := range []string{`{"name": 1, "x": 2}`, `{"x": 1} {}`, `{"x": `, `[]`, ``} {
		if _, err := decode(body); errs.KindOf(err) != errs.Invalid {
			t.Errorf("%q: %v, want a validation error", body, err)
		}
	}
}

func TestLimitBodyAndRecover(t *testing.T) {
	var h http.Handler = Handle(func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		var v map[string]string
		if err := DecodeJSON(r, &v); err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, v)
		return nil
	})
	h = Chain(h, Recover, LimitBody(64))
	big := `{"a":"` + strings.Repeat("x", 100) + `"}`
	for _, c := range []struct {
		path, body string
		chunked    bool
		want       int
	}{
		{"/", `{"a":"b"}`, false, 200},
		{"/", big, false, 413},
		{"/", big, true, 413}, // no Content-Length: cut while reading
		{"/panic", `{}`, false, 500},
	} {
		r := httptest.NewRequest("POST", c.path, strings.NewReader(c.body))
		r.Header.Set("Content-Type", "application/json")
		if c.chunked {
			r.ContentLength = -1
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != c.want {
			t.Errorf("%s %d bytes (chunked %v): %d, want %d: %s", c.path, len(c.body), c.chunked, rec.Code, c.want, rec.Body.String())
		}
	}
}

// Every flag of every server reads the same spellings.
func TestParseBool(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "True": true, "TRUE": true, "1": true, "yes": true,
		"false": false, "False": false, "0": false, "No": false} {
		if got, err := ParseBool("flag", v); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"", "maybe", "t", "2", " true"} {
		if _, err := ParseBool("flag", v); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "flag must be true or false") {
			t.Errorf("%q: %v", v, err)
		}
	}
}

func TestBoolAndQueryOnly(t *testing.T) {
	q := map[string][]string{"enroll": {"True"}, "hydrate": {"0"}, "bad": {"maybe"}}
	if v, err := Bool(q, "enroll", false); err != nil || !v {
		t.Fatalf("True: %v %v", v, err)
	}
	if v, err := Bool(q, "hydrate", true); err != nil || v {
		t.Fatalf("0: %v %v", v, err)
	}
	if v, err := Bool(q, "absent", true); err != nil || !v {
		t.Fatalf("absent: %v %v", v, err)
	}
	if _, err := Bool(q, "bad", false); !errs.Is(err, errs.Invalid) {
		t.Fatalf("maybe: %v", err)
	}
	if err := QueryOnly(q, "enroll", "hydrate"); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "bad") {
		t.Fatalf("unknown parameter: %v", err)
	}
}

func TestRequestIDAndLogger(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var seen []string
	h := Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, RequestID(r.Context()))
		Logger(r.Context()).Info("inside")
		w.WriteHeader(http.StatusTeapot)
	}), WithRequest(log), AccessLog)
	for _, given := range []string{"", "", "from-proxy-1", strings.Repeat("x", 65)} {
		r := httptest.NewRequest("GET", "/", nil)
		if given != "" {
			r.Header.Set("X-Request-Id", given)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if got := rec.Header().Get("X-Request-Id"); got != seen[len(seen)-1] || got == "" {
			t.Fatalf("header %q, handler saw %q", got, seen[len(seen)-1])
		}
	}
	if seen[0] == seen[1] {
		t.Fatalf("two requests got one id %q", seen[0])
	}
	if seen[2] != "from-proxy-1" || seen[3] == strings.Repeat("x", 65) {
		t.Fatalf("ids %v: a sane incoming id is kept, an absurd one replaced", seen)
	}
	out := buf.String()
	if !strings.Contains(out, "msg=inside request_id="+seen[0]) || !strings.Contains(out, "status=418") {
		t.Fatalf("log lacks the request id or the access line:\n%s", out)
	}
	if Logger(httptest.NewRequest("GET", "/", nil).Context()) == nil || RequestID(httptest.NewRequest("GET", "/", nil).Context()) != "" {
		t.Fatal("outside a request: want a discarding logger and no id")
	}
}
