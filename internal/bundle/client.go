package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// regClient speaks the parts of the distribution API push needs, directly,
// because resuming an upload, mounting across repositories and choosing what
// to skip are exactly what general-purpose clients do not expose.
type regClient struct {
	host   string
	scheme string
	http   *http.Client
}

func newRegClient(ctx context.Context, host string, opts RegistryOptions, repos []string) (*regClient, error) {
	reg, err := name.NewRegistry(host, opts.nameOpts()...)
	if err != nil {
		return nil, err
	}
	base, err := opts.transport()
	if err != nil {
		return nil, err
	}
	auth, err := opts.keychain().Resolve(reg)
	if err != nil {
		return nil, err
	}
	scopes := make([]string, 0, len(repos))
	for _, r := range repos {
		repo, err := name.NewRepository(host+"/"+r, opts.nameOpts()...)
		if err != nil {
			return nil, err
		}
		scopes = append(scopes, repo.Scope(transport.PushScope))
	}
	rt, err := transport.NewWithContext(ctx, reg, auth, base, scopes)
	if err != nil {
		return nil, err
	}
	scheme := "https"
	if opts.PlainHTTP {
		scheme = "http"
	}
	// ggcr's transport rewrites the scheme to the one its ping found working.
	return &regClient{host: host, scheme: scheme, http: &http.Client{Transport: rt}}, nil
}

func (c *regClient) url(p string) string { return c.scheme + "://" + c.host + p }

// registryError carries the registry's own error code (BLOB_UNKNOWN,
// DENIED, ...), which says more than the status.
type registryError struct {
	method, url string
	status      int
	body        string
}

func (e *registryError) Error() string {
	msg := strings.TrimSpace(e.body)
	var parsed struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if json.Unmarshal([]byte(e.body), &parsed) == nil && len(parsed.Errors) > 0 {
		parts := []string{}
		for _, er := range parsed.Errors {
			parts = append(parts, er.Code+": "+er.Message)
		}
		msg = strings.Join(parts, "; ")
	}
	if len(msg) > 300 {
		msg = msg[:300]
	}
	u := e.url
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return fmt.Sprintf("%s %s: %d %s %s", e.method, u, e.status, http.StatusText(e.status), msg)
}

func (c *regClient) do(ctx context.Context, method, u string, body io.Reader, size int64, hdr map[string]string, want ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		if sr, ok := body.(*io.SectionReader); ok {
			// Lets the auth transport replay the body after a token refresh.
			req.GetBody = func() (io.ReadCloser, error) {
				return io.NopCloser(io.NewSectionReader(sr, 0, sr.Size())), nil
			}
		}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return resp, nil
		}
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return nil, &registryError{method: method, url: u, status: resp.StatusCode, body: string(b)}
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

// location resolves an upload Location header against the request URL.
func location(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("%s %s: no Location header", resp.Request.Method, resp.Request.URL.Path)
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

func (c *regClient) headBlob(ctx context.Context, repo, digest string) (bool, error) {
	resp, err := c.do(ctx, http.MethodHead, c.url("/v2/"+repo+"/blobs/"+digest), nil, 0, nil, 200, 404)
	if err != nil {
		return false, err
	}
	drain(resp)
	return resp.StatusCode == 200, nil
}

// startUpload opens an upload session. With from set it first asks the
// registry to mount the blob from that repository: 201 means done without a
// byte sent; 202 means the mount was refused and an upload was opened.
func (c *regClient) startUpload(ctx context.Context, repo, digest, from string) (mounted bool, loc string, err error) {
	u := c.url("/v2/" + repo + "/blobs/uploads/")
	if from != "" {
		u += "?mount=" + url.QueryEscape(digest) + "&from=" + url.QueryEscape(from)
	}
	resp, err := c.do(ctx, http.MethodPost, u, nil, 0, nil, 201, 202)
	if err != nil {
		return false, "", err
	}
	drain(resp)
	if resp.StatusCode == 201 {
		return true, "", nil
	}
	loc, err = location(resp)
	return false, loc, err
}

// uploadStatus asks how much of an upload the registry holds.
func (c *regClient) uploadStatus(ctx context.Context, loc string) (int64, string, error) {
	resp, err := c.do(ctx, http.MethodGet, loc, nil, 0, nil, 204)
	if err != nil {
		return 0, "", err
	}
	drain(resp)
	rng := resp.Header.Get("Range") // "0-N", N the last byte held
	_, last, ok := strings.Cut(rng, "-")
	n, perr := strconv.ParseInt(last, 10, 64)
	if !ok || perr != nil {
		return 0, "", fmt.Errorf("upload status: bad Range %q", rng)
	}
	newLoc, err := location(resp)
	if err != nil {
		newLoc = loc
	}
	return n + 1, newLoc, nil
}

func (c *regClient) patch(ctx context.Context, loc string, body io.Reader, start, size int64) (string, error) {
	hdr := map[string]string{
		"Content-Type":  "application/octet-stream",
		"Content-Range": fmt.Sprintf("%d-%d", start, start+size-1),
	}
	resp, err := c.do(ctx, http.MethodPatch, loc, body, size, hdr, 202)
	if err != nil {
		return "", err
	}
	drain(resp)
	return location(resp)
}

// commit finishes an upload, sending the last bytes if body is not nil.
func (c *regClient) commit(ctx context.Context, loc, digest string, body io.Reader, size int64) error {
	u, err := url.Parse(loc)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("digest", digest)
	u.RawQuery = q.Encode()
	hdr := map[string]string{"Content-Type": "application/octet-stream"}
	if body == nil {
		body, size = http.NoBody, 0
	}
	resp, err := c.do(ctx, http.MethodPut, u.String(), body, size, hdr, 201, 204)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

func (c *regClient) cancelUpload(ctx context.Context, loc string) {
	if resp, err := c.do(ctx, http.MethodDelete, loc, nil, 0, nil, 204, 404); err == nil {
		drain(resp)
	}
}

// headManifest returns the digest ref resolves to in repo, or "" if none.
func (c *regClient) headManifest(ctx context.Context, repo, ref string) (string, error) {
	hdr := map[string]string{"Accept": strings.Join(manifestTypes, ", ")}
	resp, err := c.do(ctx, http.MethodHead, c.url("/v2/"+repo+"/manifests/"+ref), nil, 0, hdr, 200, 404)
	if err != nil {
		return "", err
	}
	drain(resp)
	if resp.StatusCode == 404 {
		return "", nil
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}

func (c *regClient) putManifest(ctx context.Context, repo, ref, mediaType string, raw []byte) error {
	body := io.NewSectionReader(strings.NewReader(string(raw)), 0, int64(len(raw)))
	resp, err := c.do(ctx, http.MethodPut, c.url("/v2/"+repo+"/manifests/"+ref), body, int64(len(raw)),
		map[string]string{"Content-Type": mediaType}, 201)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

var manifestTypes = []string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}
