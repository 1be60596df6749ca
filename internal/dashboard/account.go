package dashboard

import (
	"net/http"
	"net/url"

	"github.com/enclave-mlops/enclave/client"
)

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request, _ *session) {
	if _, ok := u.session(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	v := u.view(nil, "Log in")
	data := map[string]string{"Next": safeNext(r.URL.Query().Get("next")), "Username": ""}
	if r.URL.Query().Get("joined") == "1" {
		data["Joined"] = "Your account is ready: log in with it."
	}
	v.Data = data
	u.render(w, r, http.StatusOK, "login", v)
}

// loginPost logs in through the control plane's API and keeps its access
// token in the session cookie.
func (u *UI) loginPost(w http.ResponseWriter, r *http.Request, _ *session) {
	v := u.view(nil, "Log in")
	next := safeNext(r.PostFormValue("next"))
	v.Data = map[string]string{"Next": next, "Username": r.PostFormValue("username")}
	if err := u.checkPost(r); err != nil {
		v.Error = err.Error()
		u.render(w, r, http.StatusForbidden, "login", v)
		return
	}
	tok, err := u.cpClient("").LoginToken(r.Context(), url.Values{
		"grant_type": {"password"},
		"username":   {r.PostFormValue("username")},
		"password":   {r.PostFormValue("password")},
	})
	if err != nil {
		status, msg := explain(err)
		if status == http.StatusUnauthorized || status == http.StatusUnprocessableEntity {
			msg = "Wrong username or password."
		}
		v.Error = msg
		u.render(w, r, status, "login", v)
		return
	}
	u.setSession(w, tok.AccessToken, tok.ExpiresIn)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logoutPost revokes the token at the control plane and forgets it here.
func (u *UI) logoutPost(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.cp.Do(r.Context(), http.MethodPost, "/api/v1/auth/logout", nil, nil, nil); err != nil && client.StatusOf(err) != http.StatusUnauthorized {
		u.opts.Log.Warn("dashboard: logout", "err", err)
	}
	u.clearSession(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (u *UI) home(w http.ResponseWriter, r *http.Request, s *session) {
	http.Redirect(w, r, "/orgs", http.StatusSeeOther)
}

func (u *UI) profilePage(w http.ResponseWriter, r *http.Request, s *session) {
	u.showProfile(w, r, s, http.StatusOK, "")
}

func (u *UI) showProfile(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string) {
	v := u.view(s, "Your profile")
	v.Section, v.Error = "profile", errMsg
	orgs, err := s.cp.ListOrganizations(r.Context())
	if err != nil {
		u.fail(w, r, s, err)
		return
	}
	v.Data = map[string]any{"Orgs": orgs}
	u.render(w, r, status, "profile", v)
}

func (u *UI) passwordPost(w http.ResponseWriter, r *http.Request, s *session) {
	if r.PostFormValue("new_password") != r.PostFormValue("confirm_password") {
		u.showProfile(w, r, s, http.StatusUnprocessableEntity, "The new password and its confirmation differ.")
		return
	}
	err := s.cp.Do(r.Context(), http.MethodPut, "/api/v1/current-user/password", nil, map[string]string{
		"old_password": r.PostFormValue("old_password"),
		"new_password": r.PostFormValue("new_password"),
	}, nil)
	if err != nil {
		if msg, status, ok := formError(err); ok || client.StatusOf(err) == http.StatusUnauthorized {
			if !ok {
				msg, status = "The current password is wrong.", http.StatusUnauthorized
			}
			u.showProfile(w, r, s, status, msg)
			return
		}
		u.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/profile?done=password", http.StatusSeeOther)
}

// usersPage lists the control plane's people; only its administrators may
// see and add them, as the API decides.
func (u *UI) usersPage(w http.ResponseWriter, r *http.Request, s *session) {
	u.showUsers(w, r, s, http.StatusOK, "")
}

func (u *UI) showUsers(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string) {
	var users []client.Account
	if err := s.cp.Do(r.Context(), http.MethodGet, "/api/v1/users", nil, nil, &users); err != nil {
		u.fail(w, r, s, err)
		return
	}
	v := u.view(s, "Users")
	v.Section, v.Error = "users", errMsg
	v.Data = map[string]any{"Users": users}
	u.render(w, r, status, "users", v)
}

func (u *UI) usersPost(w http.ResponseWriter, r *http.Request, s *session) {
	err := s.cp.Do(r.Context(), http.MethodPost, "/api/v1/users", nil, map[string]any{
		"username":     r.PostFormValue("username"),
		"password":     r.PostFormValue("password"),
		"email":        r.PostFormValue("email"),
		"name":         r.PostFormValue("name"),
		"is_superuser": r.PostFormValue("is_superuser") == "on",
	}, nil)
	if err != nil {
		if msg, status, ok := formError(err); ok {
			u.showUsers(w, r, s, status, msg)
			return
		}
		u.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/users?done=user-created", http.StatusSeeOther)
}
