package dashboard

import (
	"net/http"
	"net/url"
)

// invitePage lets an invited person choose a username and password; the
// invitation's token, sent to them by an organization admin, is the
// credential, so the page needs no session.
func (u *UI) invitePage(w http.ResponseWriter, r *http.Request, _ *session) {
	v := u.view(nil, "Join Enclave")
	v.Data = map[string]string{"Token": r.URL.Query().Get("token"), "Username": "", "Name": ""}
	u.render(w, r, http.StatusOK, "invite", v)
}

func (u *UI) invitePost(w http.ResponseWriter, r *http.Request, _ *session) {
	v := u.view(nil, "Join Enclave")
	v.Data = map[string]string{"Token": r.PostFormValue("token"), "Username": r.PostFormValue("username"), "Name": r.PostFormValue("name")}
	if err := u.checkPost(r); err != nil {
		v.Error = err.Error()
		u.render(w, r, http.StatusForbidden, "invite", v)
		return
	}
	if r.PostFormValue("password") != r.PostFormValue("password2") {
		v.Error = "The two passwords differ."
		u.render(w, r, http.StatusUnprocessableEntity, "invite", v)
		return
	}
	err := u.cpClient("").Do(r.Context(), http.MethodPost, "/api/v1/invitations/accept", nil, map[string]string{
		"token": r.PostFormValue("token"), "username": r.PostFormValue("username"),
		"password": r.PostFormValue("password"), "name": r.PostFormValue("name"),
	}, nil)
	if err != nil {
		status, msg := explain(err)
		if status == http.StatusUnauthorized {
			msg = "This invitation link is not valid. Ask for a new one."
		}
		v.Error = msg
		u.render(w, r, status, "invite", v)
		return
	}
	http.Redirect(w, r, "/login?joined=1&next="+url.QueryEscape("/orgs"), http.StatusSeeOther)
}

// baseURL is the dashboard's external URL: the configured one, else the one
// the browser used.
func (u *UI) baseURL(r *http.Request) string {
	if u.opts.PublicURL != "" {
		return u.opts.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
