package doctor

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/client"
)

// controlPlaneState is what the control plane's checks learn for the
// workspace checks.
type controlPlaneState struct {
	url         string
	version     string // the control plane's version, or the doctor's own
	versionFrom string // who said it: "the control plane" or "this doctor"
	listed      bool   // the workspaces below were read
	workspaces  map[string]client.ControlPlaneWorkspace
}

// controlPlane checks the control plane at u and, with credentials, each
// workspace it knows.
func (d *run) controlPlane(ctx context.Context, u *url.URL) {
	base := u.String()
	d.cp = controlPlaneState{url: base, version: ServerVersion(), versionFrom: "this doctor"}
	if !d.reach(ctx, u) {
		d.rep.add("health", base, Skip, "the control plane is not reachable")
		if d.cfg.Username != "" {
			d.rep.add("login", d.cfg.Username, Skip, "the control plane is not reachable")
		}
		return
	}
	hc := d.httpClient()
	h := &client.HTTP{BaseURL: base, Client: hc, UserAgent: "enclave-doctor"}
	if err := h.Do(ctx, http.MethodGet, "/health", nil, nil, nil); err != nil {
		d.rep.add("health", base, Fail, "GET /health: %v", err)
	} else {
		d.rep.add("health", base, OK, "GET /health answered 200")
	}
	var info struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := h.Do(ctx, http.MethodGet, "/api/v1/info", nil, nil, &info); err != nil || info.Version == "" {
		if err == nil {
			err = fmt.Errorf("no version in the answer")
		}
		d.rep.add("version", base, Warn, "GET /api/v1/info: %v; workspaces are compared with this doctor's version %s", err, d.cp.version)
	} else {
		d.cp.version, d.cp.versionFrom = info.Version, "the control plane"
		d.rep.add("version", base, OK, "%s %s", info.Name, info.Version)
	}
	if d.cfg.Username == "" {
		return
	}
	cp := client.NewControlPlane(base, "", hc)
	if err := cp.Login(ctx, d.cfg.Username, d.cfg.Password); err != nil {
		hint := ""
		if client.StatusOf(err) == http.StatusUnauthorized {
			hint = ": wrong username or password, or the account is locked out for a while"
		}
		d.rep.add("login", d.cfg.Username, Fail, "%v%s", err, hint)
		return
	}
	d.rep.add("login", d.cfg.Username, OK, "logged in")
	list, err := cp.ListWorkspaces(ctx, "", "")
	if err != nil {
		d.rep.add("enrollment", base, Fail, "list workspaces: %v", err)
		return
	}
	d.cp.listed = true
	d.cp.workspaces = make(map[string]client.ControlPlaneWorkspace, len(list))
	if len(list) == 0 {
		d.rep.add("enrollment", base, Warn, "the control plane has no workspaces this account can see")
	}
	for _, w := range list {
		d.cp.workspaces[w.ID] = w
		d.enrollment(w)
	}
}

// enrollment checks one workspace as the control plane last heard of it.
func (d *run) enrollment(w client.ControlPlaneWorkspace) {
	target := w.Organization.Name + "/" + w.Name
	st := w.Status
	switch {
	case !w.Enrolled:
		d.rep.add("enrollment", target, Warn, "not enrolled: no enrollment key was issued (enclave enroll --overwrite enrolls it)")
		return
	case st.LastSeen == nil:
		d.rep.add("enrollment", target, Warn, "enrolled, but its server has never reported: is it installed with its values file, and can it reach the control plane?")
		return
	}
	age := d.cfg.Now().Sub(*st.LastSeen).Round(time.Second)
	if age < 0 {
		age = 0
	}
	detail := fmt.Sprintf("enrolled; reports %s, version %s, last seen %s ago", orNone(st.Health), orNone(st.Version), age)
	if st.URL != "" {
		detail += ", at " + st.URL
	}
	switch {
	case st.Health != "healthy":
		d.rep.add("enrollment", target, Fail, "%s", detail)
	case age > d.cfg.StaleAfter:
		d.rep.add("enrollment", target, Warn, "%s: no report for over %s, is the server down or cut off from the control plane?", detail, d.cfg.StaleAfter)
	default:
		d.rep.add("enrollment", target, OK, "%s", detail)
	}
	if st.Version != "" {
		d.skew(target, st.Version, "as last reported")
	}
}

// workspace checks the workspace server at u.
func (d *run) workspace(ctx context.Context, u *url.URL) {
	base := u.String()
	if !d.reach(ctx, u) {
		d.rep.add("health", base, Skip, "the workspace server is not reachable")
		return
	}
	ws := client.NewWorkspace(base, "", d.httpClient())
	if err := ws.Health(ctx); err != nil {
		d.rep.add("health", base, Fail, "GET /health: %v", err)
	} else {
		d.rep.add("health", base, OK, "GET /health answered 200")
	}
	info, err := ws.Info(ctx)
	if err != nil {
		d.rep.add("info", base, Fail, "GET /api/v1/info: %v", err)
		return
	}
	detail := fmt.Sprintf("version %s, deployment %s, database %s", orNone(info.Version), orNone(info.DeploymentType), orNone(info.DatabaseType))
	if info.DeploymentType != "cloud" || info.ProWorkspaceID == "" {
		d.rep.add("info", base, Fail, "%s: not enrolled in a control plane (the values file sets zenml.pro.enabled)", detail)
	} else {
		detail += fmt.Sprintf(", workspace %s/%s [%s]", info.ProOrganizationName, info.ProWorkspaceName, info.ProWorkspaceID)
		want := d.cp.url + "/api/v1"
		if info.ProAPIURL != "" && !sameURL(info.ProAPIURL, want) {
			// Not wrong by itself: a server may reach the control plane by
			// an in-cluster name.
			d.rep.add("info", base, Warn, "%s; it reports to %s, not to %s", detail, info.ProAPIURL, want)
		} else {
			d.rep.add("info", base, OK, "%s", detail)
		}
		d.matchEnrollment(base, info)
	}
	if info.Version != "" {
		d.skew(base, info.Version, "running")
	}
}

// matchEnrollment checks that the server's workspace id is one the control
// plane has enrolled.
func (d *run) matchEnrollment(target string, info client.ServerInfo) {
	if !d.cp.listed {
		return
	}
	w, ok := d.cp.workspaces[info.ProWorkspaceID]
	switch {
	case !ok:
		d.rep.add("enrollment", target, Fail, "workspace id %s is not on the control plane (deleted, or replaced by enclave enroll --overwrite?): enroll again and reinstall with the new values file", info.ProWorkspaceID)
	case !w.Enrolled:
		d.rep.add("enrollment", target, Fail, "workspace %s/%s is on the control plane but not enrolled", w.Organization.Name, w.Name)
	default:
		d.rep.add("enrollment", target, OK, "enrolled as %s/%s", w.Organization.Name, w.Name)
	}
}

// skew fails a workspace newer than its control plane: the control plane
// would not know what it asks for.
func (d *run) skew(target, v, how string) {
	c, err := compareVersions(v, d.cp.version)
	switch {
	case err != nil:
		d.rep.add("skew", target, Warn, "cannot compare %s with %s: %v", v, d.cp.version, err)
	case c > 0:
		d.rep.add("skew", target, Fail, "%s %s, newer than %s (%s): upgrade the control plane first", how, v, d.cp.version, d.cp.versionFrom)
	default:
		d.rep.add("skew", target, OK, "%s %s, not newer than %s (%s)", how, v, d.cp.version, d.cp.versionFrom)
	}
}

func sameURL(a, b string) bool {
	return strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
