// Package client is the Go client of Enclave's two HTTP APIs, the control
// plane's and a workspace server's. The CLI, the pipeline runner, doctor,
// enroll and the end-to-end tests all speak to the servers through it, as any
// user's tool would.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Error is an error answer from a server.
type Error struct {
	Status int
	Class  string // the first element of the wire's "detail" pair
	Msg    string
}

func (e *Error) Error() string {
	if e.Class != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Class, e.Msg)
	}
	return fmt.Sprintf("%d: %s", e.Status, e.Msg)
}

// StatusOf returns the HTTP status of a server error, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// HTTP is the transport both clients share: a base URL, a bearer token and an
// *http.Client.
type HTTP struct {
	BaseURL string // e.g. https://cp.example.com (no trailing /api/v1)
	Token   string
	Client  *http.Client
	// UserAgent is sent with every request.
	UserAgent string
}

func (h *HTTP) httpClient() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return &http.Client{Timeout: 60 * time.Second}
}

// Do sends a request to path (with query q) with a JSON body in (nil for
// none), and decodes a JSON answer into out (nil to discard it).
func (h *HTTP) Do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	return h.send(ctx, method, path, q, body, ct, out)
}

// PostForm sends a form-encoded body.
func (h *HTTP) PostForm(ctx context.Context, path string, form url.Values, out any) error {
	return h.send(ctx, http.MethodPost, path, nil, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", out)
}

func (h *HTTP) send(ctx context.Context, method, path string, q url.Values, body io.Reader, ct string, out any) error {
	u := strings.TrimRight(h.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	if h.UserAgent != "" {
		req.Header.Set("User-Agent", h.UserAgent)
	}
	resp, err := h.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp.StatusCode, data)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func decodeError(status int, data []byte) error {
	var body struct {
		Detail json.RawMessage `json:"detail"`
	}
	e := &Error{Status: status, Msg: strings.TrimSpace(string(data))}
	if json.Unmarshal(data, &body) == nil && len(body.Detail) > 0 {
		var pair []string
		var one string
		switch {
		case json.Unmarshal(body.Detail, &pair) == nil && len(pair) == 2:
			e.Class, e.Msg = pair[0], pair[1]
		case json.Unmarshal(body.Detail, &one) == nil:
			e.Msg = one
		}
	}
	if len(e.Msg) > 500 {
		e.Msg = e.Msg[:500] + "..."
	}
	return e
}
