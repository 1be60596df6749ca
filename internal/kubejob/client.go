// Package kubejob runs workloads as Kubernetes Jobs through the apiserver's
// REST API, with nothing but net/http: client-go would add tens of megabytes
// to a binary that is carried into air-gapped sites. It knows the handful of
// calls the workload manager makes — Jobs create/get/list/delete, a Secret
// create, pods list and pods/log get — which are exactly what the workspace
// chart's Role grants.
package kubejob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Client calls one apiserver.
type Client struct {
	cfg *Config
	hc  *http.Client
}

// NewClient returns a client for cfg. Each call is bounded by its context
// and by a 30-second timeout.
func NewClient(cfg *Config) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.tls
	// The apiserver is reached directly, never through the proxy that the
	// server's outbound traffic to the control plane may use.
	tr.Proxy = nil
	return &Client{cfg: cfg, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Namespace is the namespace of the configuration (the pod's own in a
// cluster).
func (c *Client) Namespace() string { return c.cfg.Namespace }

// APIError is an error answer of the apiserver: its status and the message
// of its Status object.
type APIError struct {
	Code    int
	Reason  string // e.g. NotFound, AlreadyExists, Forbidden, Invalid
	Message string
}

func (e *APIError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("kubernetes: %d %s: %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("kubernetes: %d %s", e.Code, e.Reason)
}

// IsNotFound reports whether err is the apiserver's 404.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == http.StatusNotFound
}

// maxAnswer bounds what is read of an answer; logs are bounded separately.
const maxAnswer = 16 << 20

// do sends a JSON request and decodes a JSON answer into out (nil: discard).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	body, err := c.raw(ctx, method, path, q, in)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("kubernetes: %s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

// raw sends a request and returns the body of a 2xx answer.
func (c *Client) raw(ctx context.Context, method, path string, q url.Values, in any) ([]byte, error) {
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := c.cfg.Host + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "enclave-workload-manager")
	tok, err := c.cfg.bearer()
	if err != nil {
		return nil, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Code: resp.StatusCode, Reason: http.StatusText(resp.StatusCode)}
		var st struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &st) == nil {
			if st.Reason != "" {
				e.Reason = st.Reason
			}
			e.Message = st.Message
		}
		return nil, e
	}
	return b, nil
}

func jobsPath(ns string) string { return "/apis/batch/v1/namespaces/" + url.PathEscape(ns) + "/jobs" }

// CreateJob creates j in ns and returns it as stored (with its uid).
func (c *Client) CreateJob(ctx context.Context, ns string, j *Job) (*Job, error) {
	j.APIVersion, j.Kind = "batch/v1", "Job"
	var out Job
	if err := c.do(ctx, http.MethodPost, jobsPath(ns), nil, j, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetJob reads one Job.
func (c *Client) GetJob(ctx context.Context, ns, name string) (*Job, error) {
	var out Job
	if err := c.do(ctx, http.MethodGet, jobsPath(ns)+"/"+url.PathEscape(name), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListJobs lists the Jobs of ns that match a label selector.
func (c *Client) ListJobs(ctx context.Context, ns, selector string) ([]Job, error) {
	var out JobList
	err := c.do(ctx, http.MethodGet, jobsPath(ns), url.Values{"labelSelector": {selector}}, nil, &out)
	return out.Items, err
}

// DeleteJob deletes a Job; its pods and the objects it owns go with it in
// the background. A Job already gone is not an error.
func (c *Client) DeleteJob(ctx context.Context, ns, name string) error {
	opts := map[string]any{"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
	err := c.do(ctx, http.MethodDelete, jobsPath(ns)+"/"+url.PathEscape(name), nil, opts, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// CreateSecret creates s in ns.
func (c *Client) CreateSecret(ctx context.Context, ns string, s *Secret) error {
	s.APIVersion, s.Kind = "v1", "Secret"
	return c.do(ctx, http.MethodPost, "/api/v1/namespaces/"+url.PathEscape(ns)+"/secrets", nil, s, nil)
}

// ListPods lists the pods of ns that match a label selector.
func (c *Client) ListPods(ctx context.Context, ns, selector string) ([]Pod, error) {
	var out PodList
	err := c.do(ctx, http.MethodGet, "/api/v1/namespaces/"+url.PathEscape(ns)+"/pods", url.Values{"labelSelector": {selector}}, nil, &out)
	return out.Items, err
}

// maxLogBytes is the most of a pod's log one call returns (from its start:
// the API cannot cut a tail by size).
const maxLogBytes = 4 << 20

// PodLogs returns a container's log, at most its first maxLogBytes.
func (c *Client) PodLogs(ctx context.Context, ns, pod, container string) (string, error) {
	q := url.Values{"limitBytes": {fmt.Sprint(maxLogBytes)}}
	if container != "" {
		q.Set("container", container)
	}
	b, err := c.raw(ctx, http.MethodGet, "/api/v1/namespaces/"+url.PathEscape(ns)+"/pods/"+url.PathEscape(pod)+"/log", q, nil)
	return string(b), err
}
