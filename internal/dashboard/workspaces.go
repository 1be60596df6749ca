package dashboard

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/template"

	"github.com/enclave-mlops/enclave/client"
)

func (u *UI) workspacesPage(w http.ResponseWriter, r *http.Request, s *session) {
	u.showWorkspaces(w, r, s, http.StatusOK, "")
}

func (u *UI) showWorkspaces(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string) {
	v, ok := u.orgView(w, r, s, "workspaces", "Workspaces")
	if !ok {
		return
	}
	v.Error = errMsg
	wss, err := s.cp.ListWorkspaces(r.Context(), v.Org.ID, "")
	if err != nil {
		u.fail(w, r, s, err)
		return
	}
	v.Data = map[string]any{"Workspaces": wss}
	u.render(w, r, status, "workspaces", v)
}

// workspacesPost creates and enrolls a workspace. The answer shows the
// enrollment key, which the API gives only this once, with the Helm values
// that install the workspace server.
func (u *UI) workspacesPost(w http.ResponseWriter, r *http.Request, s *session) {
	ws, err := s.cp.CreateWorkspace(r.Context(), r.PathValue("org"), r.PostFormValue("name"), true)
	if err != nil {
		if msg, status, ok := formError(err); ok {
			u.showWorkspaces(w, r, s, status, msg)
			return
		}
		u.fail(w, r, s, err)
		return
	}
	u.showEnrolled(w, r, s, ws, "created")
}

func (u *UI) showEnrolled(w http.ResponseWriter, r *http.Request, s *session, ws client.ControlPlaneWorkspace, how string) {
	org := client.Organization{ID: ws.Organization.ID, Name: ws.Organization.Name}
	v := u.view(s, "Enroll "+ws.Name)
	v.Section, v.Org, v.WS, v.Tab = "orgs", &org, &ws, "overview"
	v.Data = map[string]any{"Key": ws.EnrollmentKey, "Values": u.helmValues(r, ws), "How": how}
	w.Header().Set("Cache-Control", "no-store")
	u.render(w, r, http.StatusOK, "enrolled", v)
}

var valuesTmpl = template.Must(template.New("values").Parse(`# Values for charts/workspace: helm install {{.Name}} charts/workspace -f values.yaml
zenml:
  serverURL: https://{{.Name}}.example.internal   # where users and runners reach this workspace
  database:
    # MySQL, PostgreSQL, or leave empty for SQLite on the pod's volume.
    url: ""   # e.g. mysql://user:password@mysql.example.internal:3306/{{.DB}}
  pro:
    enabled: true
    apiURL: {{.API}}
    dashboardURL: {{.Dashboard}}
    enrollmentKey: {{.Key}}
    organizationID: {{.OrgID}}
    organizationName: {{.OrgName}}
    workspaceID: {{.ID}}
    workspaceName: {{.Name}}
`))

// helmValues is a values file for charts/workspace that enrolls ws with this
// control plane.
func (u *UI) helmValues(r *http.Request, ws client.ControlPlaneWorkspace) string {
	base := u.opts.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	base = strings.TrimRight(base, "/")
	var b bytes.Buffer
	_ = valuesTmpl.Execute(&b, map[string]string{
		"Name": ws.Name, "ID": ws.ID, "Key": yamlQuote(ws.EnrollmentKey),
		"OrgID": ws.Organization.ID, "OrgName": yamlQuote(ws.Organization.Name),
		"API": base + "/api/v1", "Dashboard": base, "DB": strings.ReplaceAll(ws.Name, "-", "_"),
	})
	return b.String()
}

// yamlQuote writes s as a double-quoted YAML scalar, which JSON's string
// escaping is a subset of.
func yamlQuote(s string) string { return strconv.Quote(s) }

// workspacePage shows a workspace by id, or by name: the seed's enrollment
// script tells people their workspace is at /workspaces/<name>.
func (u *UI) workspacePage(w http.ResponseWriter, r *http.Request, s *session) {
	if ref := r.PathValue("ws"); !looksLikeID(ref) {
		found, err := s.cp.ListWorkspaces(r.Context(), "", ref)
		if err != nil {
			u.fail(w, r, s, err)
			return
		}
		if len(found) != 1 {
			u.fail(w, r, s, &client.Error{Status: http.StatusNotFound, Msg: "no workspace named " + ref})
			return
		}
		http.Redirect(w, r, "/workspaces/"+found[0].ID, http.StatusSeeOther)
		return
	}
	u.showWorkspace(w, r, s, http.StatusOK, "")
}

// looksLikeID reports whether s has the shape of a UUID.
func looksLikeID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case (c < '0' || c > '9') && (c < 'a' || c > 'f'):
			return false
		}
	}
	return true
}

func (u *UI) showWorkspace(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string) {
	ws, err := s.cp.GetWorkspace(r.Context(), r.PathValue("ws"))
	if err != nil {
		u.fail(w, r, s, err)
		return
	}
	v := u.wsView(s, ws, "overview", ws.Name)
	v.Error = errMsg
	u.render(w, r, status, "workspace", v)
}

func (u *UI) wsView(s *session, ws client.ControlPlaneWorkspace, tab, title string) *view {
	org := client.Organization{ID: ws.Organization.ID, Name: ws.Organization.Name}
	v := u.view(s, title+" · "+ws.Name)
	v.Section, v.Org, v.WS, v.Tab = "orgs", &org, &ws, tab
	return v
}

func (u *UI) rotatePost(w http.ResponseWriter, r *http.Request, s *session) {
	ws, err := s.cp.RotateEnrollmentKey(r.Context(), r.PathValue("ws"))
	if err != nil {
		if msg, status, ok := formError(err); ok {
			u.showWorkspace(w, r, s, status, msg)
			return
		}
		u.fail(w, r, s, err)
		return
	}
	if ws.Name == "" { // the answer may carry only the key
		key := ws.EnrollmentKey
		if ws, err = s.cp.GetWorkspace(r.Context(), r.PathValue("ws")); err != nil {
			u.fail(w, r, s, err)
			return
		}
		ws.EnrollmentKey = key
	}
	u.showEnrolled(w, r, s, ws, "rotated")
}

// workspaceDeletePost deletes a workspace once its name is typed back, a
// confirmation that works without JavaScript.
func (u *UI) workspaceDeletePost(w http.ResponseWriter, r *http.Request, s *session) {
	ws, err := s.cp.GetWorkspace(r.Context(), r.PathValue("ws"))
	if err != nil {
		u.fail(w, r, s, err)
		return
	}
	if r.PostFormValue("confirm") != ws.Name {
		u.showWorkspace(w, r, s, http.StatusUnprocessableEntity, "Type the workspace's name to confirm that it should be deleted.")
		return
	}
	u.act(w, r, s, func() error { return s.cp.DeleteWorkspace(r.Context(), ws.ID) },
		"/orgs/"+url.PathEscape(ws.Organization.ID)+"/workspaces?done=ws-deleted", u.showWorkspace)
}
