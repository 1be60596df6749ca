package workspace

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/version"
)

// proClient is the workspace's side of the control plane's API: it logs in
// with OAuth2 client credentials (workspace id + enrollment key), keeps the
// token, renews it renewBefore its expiry, and logs in again on any 401.

const (
	renewBefore    = 5 * time.Minute
	statusInterval = 5 * time.Minute
)

type proClient struct {
	api, workspaceID, secret, audience string
	hc                                 *http.Client
	log                                *slog.Logger
	now                                func() time.Time

	mu     sync.Mutex
	token  string
	expiry time.Time
	logins int // how many logins were made, for tests and logs
}

func newProClient(cfg Config, log *slog.Logger) *proClient {
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &proClient{api: cfg.Pro.APIURL, workspaceID: cfg.Pro.WorkspaceID, secret: cfg.Pro.ClientSecret,
		audience: cfg.Pro.Audience, hc: hc, log: log, now: time.Now}
}

func (p *proClient) http(token string) *client.HTTP {
	return &client.HTTP{BaseURL: p.api, Token: token, Client: p.hc, UserAgent: "enclave-workspace/" + version.Version}
}

// tokenFor returns a token good for at least renewBefore more, logging in
// when there is none, it is due, or force is set.
func (p *proClient) tokenFor(ctx context.Context, force bool) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !force && p.token != "" && p.now().Before(p.expiry.Add(-renewBefore)) {
		return p.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {p.workspaceID},
		"client_secret": {p.secret}, "audience": {p.audience}}
	var tr client.TokenResponse
	if err := p.http("").PostForm(ctx, "/auth/login", form, &tr); err != nil {
		p.token = ""
		return "", errs.Wrap(errs.Unavailable, err, "the control plane refused this workspace's login")
	}
	if tr.AccessToken == "" || tr.ExpiresIn <= 0 {
		return "", errs.E(errs.Unavailable, "the control plane answered the login without a usable token")
	}
	p.token, p.expiry = tr.AccessToken, p.now().Add(time.Duration(tr.ExpiresIn)*time.Second)
	p.logins++
	p.log.Info("logged in to the control plane", "expires_in", tr.ExpiresIn)
	return p.token, nil
}

// call sends a request with the workspace's token, logging in again once
// when the control plane answers 401.
func (p *proClient) call(ctx context.Context, method, path string, q url.Values, in, out any) error {
	for attempt := 0; ; attempt++ {
		tok, err := p.tokenFor(ctx, attempt > 0)
		if err != nil {
			return err
		}
		err = p.http(tok).Do(ctx, method, path, q, in, out)
		if client.StatusOf(err) == http.StatusUnauthorized && attempt == 0 {
			continue
		}
		if err != nil {
			return errs.Wrap(errs.Unavailable, err, "the control plane did not answer %s %s", method, path)
		}
		return nil
	}
}

type workspaceStatus struct {
	Version      string `json:"version"`
	URL          string `json:"url"`
	Health       string `json:"health"`
	DatabaseType string `json:"database_type"`
	ServerID     string `json:"server_id"`
}

func (s *Server) status() workspaceStatus {
	return workspaceStatus{Version: version.Version, URL: s.cfg.ServerURL, Health: "healthy",
		DatabaseType: s.db.Dialect().String(), ServerID: s.serverID}
}

func (p *proClient) reportStatus(ctx context.Context, st workspaceStatus) error {
	return p.call(ctx, http.MethodPatch, "/workspace_status", nil, st, nil)
}

// loop keeps the token fresh and reports the status at start, after every
// renewal and every statusInterval, until ctx ends. Failures are retried
// with a growing pause.
func (p *proClient) loop(ctx context.Context, status func() workspaceStatus) {
	backoff := time.Second
	for {
		wait := statusInterval
		_, err := p.tokenFor(ctx, false)
		if err == nil {
			err = p.reportStatus(ctx, status())
		}
		if err != nil {
			p.log.Warn("control plane unreachable", "err", err, "retry_in", backoff)
			wait, backoff = backoff, min(backoff*2, time.Minute)
		} else {
			backoff = time.Second
			p.mu.Lock()
			if due := p.expiry.Add(-renewBefore).Sub(p.now()); due < wait {
				wait = max(due, time.Second)
			}
			p.mu.Unlock()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// cpUser is a control-plane user as authorize_server tells it.
type cpUser struct {
	ID               string `json:"id"`
	Email            string `json:"email"`
	Name             string `json:"name"`
	IsAdmin          bool   `json:"is_admin"`
	IsServiceAccount bool   `json:"is_service_account"`
}

// authorizeServer asks the control plane, with the user's own token, whether
// the user may use this workspace.
func (p *proClient) authorizeServer(ctx context.Context, userToken string) (cpUser, error) {
	var u cpUser
	err := p.http(userToken).Do(ctx, http.MethodGet, "/users/authorize_server", url.Values{"server_id": {p.workspaceID}}, nil, &u)
	switch st := client.StatusOf(err); {
	case err == nil && u.ID != "":
		return u, nil
	case err == nil:
		return u, errs.E(errs.Unavailable, "the control plane answered authorize_server without a user id")
	case st == http.StatusUnauthorized:
		return u, errs.E(errs.Unauthenticated, "the control plane did not accept the token")
	case st == http.StatusForbidden:
		return u, errs.E(errs.Forbidden, "the control plane does not let this user use this workspace")
	case st == http.StatusNotFound:
		return u, errs.E(errs.Unauthenticated, "the control plane does not know this workspace")
	}
	return u, errs.Wrap(errs.Unavailable, err, "the control plane did not answer authorize_server")
}

func (p *proClient) checkPermissions(ctx context.Context, userID, action string, resources []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := p.call(ctx, http.MethodPost, "/rbac/check_permissions", url.Values{"user_id": {userID}, "action": {action}}, resources, &out)
	return out, err
}

func (p *proClient) allowedIDs(ctx context.Context, userID, resource, action string) (bool, []string, error) {
	var out struct {
		FullAccess bool     `json:"full_access"`
		IDs        []string `json:"ids"`
	}
	err := p.call(ctx, http.MethodGet, "/rbac/allowed_resource_ids", url.Values{"user_id": {userID}, "resource": {resource}, "action": {action}}, nil, &out)
	return out.FullAccess, out.IDs, err
}

func (p *proClient) deleteResources(ctx context.Context, resources []string) error {
	return p.call(ctx, http.MethodDelete, "/rbac/resources", url.Values{"resources": {strings.Join(resources, ",")}}, nil, nil)
}
