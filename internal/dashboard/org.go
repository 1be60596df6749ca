package dashboard

import (
	"net/http"
	"net/url"

	"github.com/enclave-mlops/enclave/client"
)

// shower draws a page again with a status and a message next to its forms.
type shower func(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string)

// act runs a form's API call: on success it redirects to next, on an error
// the visitor can fix it draws the page again with the message, and on any
// other error it shows an error page.
func (u *UI) act(w http.ResponseWriter, r *http.Request, s *session, call func() error, next string, show shower) {
	if err := call(); err != nil {
		if msg, status, ok := formError(err); ok {
			show(w, r, s, status, msg)
			return
		}
		u.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// orgView loads the organization of the path into a view for one of its tabs.
func (u *UI) orgView(w http.ResponseWriter, r *http.Request, s *session, tab, title string) (*view, bool) {
	var org client.Organization
	if err := s.cp.Do(r.Context(), http.MethodGet, "/api/v1/organizations/"+url.PathEscape(r.PathValue("org")), nil, nil, &org); err != nil {
		u.fail(w, r, s, err)
		return nil, false
	}
	v := u.view(s, title+" · "+org.Name)
	v.Section, v.Org, v.Tab = "orgs", &org, tab
	return v, true
}

func orgPath(r *http.Request, rest string) string {
	return "/orgs/" + url.PathEscape(r.PathValue("org")) + rest
}

func apiOrg(r *http.Request, rest string) string {
	return "/api/v1/organizations/" + url.PathEscape(r.PathValue("org")) + rest
}

func (u *UI) orgsPage(w http.ResponseWriter, r *http.Request, s *session) {
	u.showOrgs(w, r, s, http.StatusOK, "")
}

func (u *UI) showOrgs(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string) {
	orgs, err := s.cp.ListOrganizations(r.Context())
	if err != nil {
		u.fail(w, r, s, err)
		return
	}
	v := u.view(s, "Organizations")
	v.Section, v.Error = "orgs", errMsg
	v.Data = map[string]any{"Orgs": orgs}
	u.render(w, r, status, "orgs", v)
}

func (u *UI) orgsPost(w http.ResponseWriter, r *http.Request, s *session) {
	org, err := s.cp.CreateOrganization(r.Context(), r.PostFormValue("name"), r.PostFormValue("description"))
	if err != nil {
		if msg, status, ok := formError(err); ok {
			u.showOrgs(w, r, s, status, msg)
			return
		}
		u.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/orgs/"+url.PathEscape(org.ID)+"/members?done=org-created", http.StatusSeeOther)
}

func (u *UI) orgPage(w http.ResponseWriter, r *http.Request, s *session) {
	u.showOrg(w, r, s, http.StatusOK, "")
}

func (u *UI) showOrg(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string) {
	v, ok := u.orgView(w, r, s, "settings", "Settings")
	if !ok {
		return
	}
	v.Error = errMsg
	u.render(w, r, status, "org", v)
}

// orgPost renames the organization or changes its description.
func (u *UI) orgPost(w http.ResponseWriter, r *http.Request, s *session) {
	name, desc := r.PostFormValue("name"), r.PostFormValue("description")
	u.act(w, r, s, func() error {
		return s.cp.Do(r.Context(), http.MethodPatch, apiOrg(r, ""), nil, map[string]*string{"name": &name, "description": &desc}, nil)
	}, orgPath(r, "?done=org-renamed"), u.showOrg)
}

// ---- members

func (u *UI) membersPage(w http.ResponseWriter, r *http.Request, s *session) {
	u.showMembers(w, r, s, http.StatusOK, "")
}

func (u *UI) showMembers(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string) {
	v, ok := u.orgView(w, r, s, "members", "Members")
	if !ok {
		return
	}
	v.Error = errMsg
	var members []client.Member
	var roles []client.Role
	err := s.cp.Do(r.Context(), http.MethodGet, apiOrg(r, "/members"), nil, nil, &members)
	if err == nil {
		err = s.cp.Do(r.Context(), http.MethodGet, apiOrg(r, "/roles"), nil, nil, &roles)
	}
	if err != nil {
		u.fail(w, r, s, err)
		return
	}
	people := members[:0:0]
	for _, m := range members {
		if !m.User.IsServiceAccount {
			people = append(people, m)
		}
	}
	v.Data = map[string]any{"Members": people, "Roles": roles}
	u.render(w, r, status, "members", v)
}

func (u *UI) membersPost(w http.ResponseWriter, r *http.Request, s *session) {
	u.act(w, r, s, func() error {
		_, err := s.cp.AddMember(r.Context(), r.PathValue("org"), r.PostFormValue("username"), r.PostFormValue("role"))
		return err
	}, orgPath(r, "/members?done=member-added"), u.showMembers)
}

func (u *UI) memberRolePost(w http.ResponseWriter, r *http.Request, s *session) {
	u.act(w, r, s, func() error {
		return s.cp.Do(r.Context(), http.MethodPut, apiOrg(r, "/members/"+url.PathEscape(r.PathValue("user"))+"/role"), nil,
			map[string]string{"role": r.PostFormValue("role")}, nil)
	}, orgPath(r, "/members?done=member-role"), u.showMembers)
}

func (u *UI) memberRemovePost(w http.ResponseWriter, r *http.Request, s *session) {
	u.act(w, r, s, func() error {
		return s.cp.RemoveMember(r.Context(), r.PathValue("org"), url.PathEscape(r.PathValue("user")))
	}, orgPath(r, "/members?done=member-removed"), u.showMembers)
}

// ---- invitations

type invitation struct {
	client.Invitation
	Expires    client.Time `json:"expires"`
	AcceptedBy string      `json:"accepted_by"`
}

func (u *UI) invitationsPage(w http.ResponseWriter, r *http.Request, s *session) {
	u.showInvitations(w, r, s, http.StatusOK, "", nil)
}

func (u *UI) showInvitations(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string, created *client.Invitation) {
	v, ok := u.orgView(w, r, s, "invitations", "Invitations")
	if !ok {
		return
	}
	v.Error = errMsg
	var invs []invitation
	var roles []client.Role
	err := s.cp.Do(r.Context(), http.MethodGet, apiOrg(r, "/invitations"), nil, nil, &invs)
	if err == nil {
		err = s.cp.Do(r.Context(), http.MethodGet, apiOrg(r, "/roles"), nil, nil, &roles)
	}
	if err != nil {
		u.fail(w, r, s, err)
		return
	}
	v.Data = map[string]any{"Invitations": invs, "Roles": roles, "Created": created, "Base": u.baseURL(r)}
	if created != nil {
		w.Header().Set("Cache-Control", "no-store")
	}
	u.render(w, r, status, "invitations", v)
}

// invitationsPost shows the new invitation's token on the answer itself: the
// API gives it once, so it must not go through a redirect.
func (u *UI) invitationsPost(w http.ResponseWriter, r *http.Request, s *session) {
	inv, err := s.cp.Invite(r.Context(), r.PathValue("org"), r.PostFormValue("email"), r.PostFormValue("role"))
	if err != nil {
		if msg, status, ok := formError(err); ok {
			u.showInvitations(w, r, s, status, msg, nil)
			return
		}
		u.fail(w, r, s, err)
		return
	}
	u.showInvitations(w, r, s, http.StatusOK, "", &inv)
}

func (u *UI) invitationDeletePost(w http.ResponseWriter, r *http.Request, s *session) {
	u.act(w, r, s, func() error {
		return s.cp.Do(r.Context(), http.MethodDelete, "/api/v1/invitations/"+url.PathEscape(r.PathValue("inv")), nil, nil, nil)
	}, orgPath(r, "/invitations?done=inv-deleted"), func(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
		u.showInvitations(w, r, s, status, msg, nil)
	})
}
