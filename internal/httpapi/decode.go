package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/enclave-mlops/enclave/internal/errs"
)

// MaxBody is the default limit of a request body.
const MaxBody = 1 << 20

// DecodeJSON reads exactly one JSON value from the body into v, refusing a
// wrong content type, unknown fields, trailing data and oversized bodies.
func DecodeJSON(r *http.Request, v any) error {
	return decodeJSON(r, v, true)
}

// DecodeJSONIgnoringUnknown is DecodeJSON for a protocol whose clients may
// send fields this server does not know, which it ignores.
func DecodeJSONIgnoringUnknown(r *http.Request, v any) error {
	return decodeJSON(r, v, false)
}

func decodeJSON(r *http.Request, v any, strict bool) error {
	if err := wantContentType(r, "application/json"); err != nil {
		return err
	}
	dec := json.NewDecoder(r.Body)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return errs.E(errs.Invalid, "request body holds more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return jsonError(err)
		}
		return errs.E(errs.Invalid, "request body holds more than one JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return errs.E(errs.TooLarge, "request body is larger than %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return errs.E(errs.Invalid, "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.E(errs.Invalid, "request body is truncated JSON")
	case errors.As(err, &syntax):
		return errs.E(errs.Invalid, "malformed JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return errs.E(errs.Invalid, "field %q must be %s, not %s", typ.Field, typ.Type, typ.Value)
		}
		return errs.E(errs.Invalid, "request body must be %s, not %s", typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errs.E(errs.Invalid, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return errs.E(errs.Invalid, "malformed JSON: %v", err)
}

// DecodeForm parses an application/x-www-form-urlencoded body.
func DecodeForm(r *http.Request) (url.Values, error) {
	if err := wantContentType(r, "application/x-www-form-urlencoded"); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errs.E(errs.TooLarge, "request body is larger than %d bytes", tooBig.Limit)
		}
		return nil, errs.Wrap(errs.Invalid, err, "read form")
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errs.E(errs.Invalid, "malformed form body: %v", err)
	}
	return vals, nil
}

func wantContentType(r *http.Request, want string) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != want {
		if ct == "" {
			ct = "none"
		}
		return errs.E(errs.Unsupported, "Content-Type must be %s, not %s", want, ct)
	}
	return nil
}

// Bool parses a query flag the way clients send it (see ParseBool); absent
// or empty is def.
func Bool(q url.Values, name string, def bool) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	return ParseBool("query parameter "+name, v)
}

// ParseBool reads a flag's value as clients send it — true, 1 or yes; false,
// 0 or no; in any case (Python's clients send True and False) — or says
// that what, the flag's name for the error, must be one or the other.
func ParseBool(what, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, errs.E(errs.Invalid, "%s must be true or false, not %q", what, v)
}

// QueryOnly rejects query parameters other than those allowed, so that a
// misspelt filter is an error rather than silently ignored.
func QueryOnly(q url.Values, allowed ...string) error {
	for k := range q {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			return errs.E(errs.Invalid, "unknown query parameter %q", k)
		}
	}
	return nil
}
