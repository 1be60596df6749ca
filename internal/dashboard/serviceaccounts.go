package dashboard

import (
	"net/http"
	"net/url"

	"github.com/enclave-mlops/enclave/client"
)

// apiKey is a service account's key as the API lists it.
type apiKey struct {
	client.ServiceAccountKey
	Active   bool         `json:"active"`
	LastUsed *client.Time `json:"last_used"`
	Created  client.Time  `json:"created"`
}

func (u *UI) serviceAccountsPage(w http.ResponseWriter, r *http.Request, s *session) {
	u.showServiceAccounts(w, r, s, http.StatusOK, "")
}

func (u *UI) showServiceAccounts(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string) {
	v, ok := u.orgView(w, r, s, "service-accounts", "Service accounts")
	if !ok {
		return
	}
	v.Error = errMsg
	var sas []client.Member
	var roles []client.Role
	err := s.cp.Do(r.Context(), http.MethodGet, apiOrg(r, "/service_accounts"), nil, nil, &sas)
	if err == nil {
		err = s.cp.Do(r.Context(), http.MethodGet, apiOrg(r, "/roles"), nil, nil, &roles)
	}
	if err != nil {
		u.fail(w, r, s, err)
		return
	}
	v.Data = map[string]any{"Accounts": sas, "Roles": roles}
	u.render(w, r, status, "serviceaccounts", v)
}

func (u *UI) serviceAccountsPost(w http.ResponseWriter, r *http.Request, s *session) {
	var m client.Member
	err := s.cp.Do(r.Context(), http.MethodPost, apiOrg(r, "/service_accounts"), nil, map[string]string{
		"name": r.PostFormValue("name"), "description": r.PostFormValue("description"), "role": r.PostFormValue("role"),
	}, &m)
	if err != nil {
		if msg, status, ok := formError(err); ok {
			u.showServiceAccounts(w, r, s, status, msg)
			return
		}
		u.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, orgPath(r, "/service-accounts/"+url.PathEscape(m.User.ID)+"?done=sa-created"), http.StatusSeeOther)
}

func saPath(r *http.Request) string {
	return "/api/v1/service_accounts/" + url.PathEscape(r.PathValue("sa"))
}

func (u *UI) serviceAccountPage(w http.ResponseWriter, r *http.Request, s *session) {
	u.showServiceAccount(w, r, s, http.StatusOK, "", nil)
}

// showServiceAccount lists an account's keys; created is a key just made,
// whose secret the API shows this once.
func (u *UI) showServiceAccount(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string, created *client.ServiceAccountKey) {
	v, ok := u.orgView(w, r, s, "service-accounts", "Service account")
	if !ok {
		return
	}
	v.Error = errMsg
	var sas []client.Member
	var keys []apiKey
	err := s.cp.Do(r.Context(), http.MethodGet, apiOrg(r, "/service_accounts"), nil, nil, &sas)
	if err == nil {
		err = s.cp.Do(r.Context(), http.MethodGet, saPath(r)+"/api_keys", nil, nil, &keys)
	}
	if err != nil {
		u.fail(w, r, s, err)
		return
	}
	var account *client.Member
	for i := range sas {
		if sas[i].User.ID == r.PathValue("sa") {
			account = &sas[i]
		}
	}
	if account == nil {
		u.renderError(w, r, s, http.StatusNotFound, "This organization has no such service account.")
		return
	}
	v.Title = "Service account " + account.User.Username
	v.Data = map[string]any{"Account": account, "Keys": keys, "Created": created}
	if created != nil {
		w.Header().Set("Cache-Control", "no-store")
	}
	u.render(w, r, status, "serviceaccount", v)
}

// apiKeyPost shows the new key on the answer itself, never in a redirect.
func (u *UI) apiKeyPost(w http.ResponseWriter, r *http.Request, s *session) {
	var k client.ServiceAccountKey
	err := s.cp.Do(r.Context(), http.MethodPost, saPath(r)+"/api_keys", nil, map[string]string{"name": r.PostFormValue("name")}, &k)
	if err != nil {
		if msg, status, ok := formError(err); ok {
			u.showServiceAccount(w, r, s, status, msg, nil)
			return
		}
		u.fail(w, r, s, err)
		return
	}
	u.showServiceAccount(w, r, s, http.StatusOK, "", &k)
}

func (u *UI) apiKeyDeletePost(w http.ResponseWriter, r *http.Request, s *session) {
	show := func(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
		u.showServiceAccount(w, r, s, status, msg, nil)
	}
	u.act(w, r, s, func() error {
		return s.cp.Do(r.Context(), http.MethodDelete, saPath(r)+"/api_keys/"+url.PathEscape(r.PathValue("key")), nil, nil, nil)
	}, orgPath(r, "/service-accounts/"+url.PathEscape(r.PathValue("sa"))+"?done=key-deleted"), show)
}

func (u *UI) serviceAccountDeletePost(w http.ResponseWriter, r *http.Request, s *session) {
	show := func(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
		u.showServiceAccount(w, r, s, status, msg, nil)
	}
	u.act(w, r, s, func() error {
		return s.cp.Do(r.Context(), http.MethodDelete, saPath(r), nil, nil, nil)
	}, orgPath(r, "/service-accounts?done=sa-deleted"), show)
}
