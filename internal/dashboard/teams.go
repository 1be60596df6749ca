package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/enclave-mlops/enclave/client"
)

// ---- teams

func (u *UI) teamsPage(w http.ResponseWriter, r *http.Request, s *session) {
	u.showTeams(w, r, s, http.StatusOK, "")
}

func (u *UI) showTeams(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string) {
	v, ok := u.orgView(w, r, s, "teams", "Teams")
	if !ok {
		return
	}
	v.Error = errMsg
	var teams []client.Team
	if err := s.cp.Do(r.Context(), http.MethodGet, apiOrg(r, "/teams"), nil, nil, &teams); err != nil {
		u.fail(w, r, s, err)
		return
	}
	v.Data = map[string]any{"Teams": teams}
	u.render(w, r, status, "teams", v)
}

func (u *UI) teamsPost(w http.ResponseWriter, r *http.Request, s *session) {
	u.act(w, r, s, func() error {
		_, err := s.cp.CreateTeam(r.Context(), r.PathValue("org"), r.PostFormValue("name"))
		return err
	}, orgPath(r, "/teams?done=team-created"), u.showTeams)
}

func (u *UI) teamPage(w http.ResponseWriter, r *http.Request, s *session) {
	u.showTeam(w, r, s, http.StatusOK, "")
}

func (u *UI) showTeam(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string) {
	v, ok := u.orgView(w, r, s, "teams", "Team")
	if !ok {
		return
	}
	v.Error = errMsg
	var team client.Team
	var members []client.Member
	err := s.cp.Do(r.Context(), http.MethodGet, "/api/v1/teams/"+url.PathEscape(r.PathValue("team")), nil, nil, &team)
	if err == nil && team.OrgID != v.Org.ID {
		err = &client.Error{Status: http.StatusNotFound, Msg: "no such team"}
	}
	if err == nil {
		err = s.cp.Do(r.Context(), http.MethodGet, apiOrg(r, "/members"), nil, nil, &members)
	}
	if err != nil {
		u.fail(w, r, s, err)
		return
	}
	in := map[string]bool{}
	for _, id := range team.MemberIDs {
		in[id] = true
	}
	var inTeam, others []client.Account
	for _, m := range members {
		if in[m.User.ID] {
			inTeam = append(inTeam, m.User)
		} else {
			others = append(others, m.User)
		}
	}
	v.Title = "Team " + team.Name + " · " + v.Org.Name
	v.Data = map[string]any{"Team": team, "Members": inTeam, "Others": others}
	u.render(w, r, status, "team", v)
}

func teamPath(r *http.Request, rest string) string {
	return orgPath(r, "/teams/"+url.PathEscape(r.PathValue("team"))+rest)
}

func (u *UI) teamMemberPost(w http.ResponseWriter, r *http.Request, s *session) {
	u.act(w, r, s, func() error {
		_, err := s.cp.AddTeamMember(r.Context(), url.PathEscape(r.PathValue("team")), r.PostFormValue("user_id"))
		return err
	}, teamPath(r, "?done=team-member"), u.showTeam)
}

func (u *UI) teamMemberRemovePost(w http.ResponseWriter, r *http.Request, s *session) {
	u.act(w, r, s, func() error {
		return s.cp.Do(r.Context(), http.MethodDelete, "/api/v1/teams/"+url.PathEscape(r.PathValue("team"))+"/members/"+url.PathEscape(r.PathValue("user")), nil, nil, nil)
	}, teamPath(r, "?done=team-member"), u.showTeam)
}

func (u *UI) teamDeletePost(w http.ResponseWriter, r *http.Request, s *session) {
	u.act(w, r, s, func() error {
		return s.cp.Do(r.Context(), http.MethodDelete, "/api/v1/teams/"+url.PathEscape(r.PathValue("team")), nil, nil, nil)
	}, orgPath(r, "/teams?done=team-deleted"), u.showTeam)
}

// ---- roles and their assignments

// roleRow is a role with its permissions as sorted text.
type roleRow struct {
	client.Role
	Lines []string
}

// assignmentRow is an assignment with names instead of ids.
type assignmentRow struct {
	client.Assignment
	Subject, RoleName, Where string
}

func (u *UI) rolesPage(w http.ResponseWriter, r *http.Request, s *session) {
	u.showRoles(w, r, s, http.StatusOK, "")
}

func (u *UI) showRoles(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string) {
	v, ok := u.orgView(w, r, s, "roles", "Roles")
	if !ok {
		return
	}
	v.Error = errMsg
	ctx := r.Context()
	var roles []client.Role
	var as []client.Assignment
	var members []client.Member
	var teams []client.Team
	err := s.cp.Do(ctx, http.MethodGet, apiOrg(r, "/roles"), nil, nil, &roles)
	if err == nil {
		err = s.cp.Do(ctx, http.MethodGet, apiOrg(r, "/role_assignments"), nil, nil, &as)
	}
	if err == nil {
		err = s.cp.Do(ctx, http.MethodGet, apiOrg(r, "/members"), nil, nil, &members)
	}
	if err == nil {
		err = s.cp.Do(ctx, http.MethodGet, apiOrg(r, "/teams"), nil, nil, &teams)
	}
	if err != nil {
		u.fail(w, r, s, err)
		return
	}
	wss, err := s.cp.ListWorkspaces(ctx, v.Org.ID, "")
	if err != nil {
		u.fail(w, r, s, err)
		return
	}
	names := map[string]string{}
	for _, m := range members {
		names[m.User.ID] = m.User.Username
	}
	for _, t := range teams {
		names[t.ID] = "team " + t.Name
	}
	for _, ro := range roles {
		names[ro.ID] = ro.Name
	}
	for _, ws := range wss {
		names[ws.ID] = "workspace " + ws.Name
	}
	rows := make([]roleRow, len(roles))
	for i, ro := range roles {
		rows[i] = roleRow{Role: ro}
		for res, acts := range ro.Permissions {
			rows[i].Lines = append(rows[i].Lines, res+": "+strings.Join(acts, ", "))
		}
		sort.Strings(rows[i].Lines)
	}
	arows := make([]assignmentRow, len(as))
	for i, a := range as {
		arows[i] = assignmentRow{Assignment: a, Subject: nameOr(names, a.SubjectID), RoleName: nameOr(names, a.Role), Where: a.Scope}
		if a.WorkspaceID != "" {
			arows[i].Where = nameOr(names, a.WorkspaceID)
		}
	}
	v.Data = map[string]any{"Roles": rows, "Assignments": arows, "Members": members, "Teams": teams, "Workspaces": wss}
	u.render(w, r, status, "roles", v)
}

func nameOr(names map[string]string, id string) string {
	if n, ok := names[id]; ok {
		return n
	}
	return id
}

// parsePermissions reads one "resource: action, action" per line.
func parsePermissions(text string) (map[string][]string, error) {
	perms := map[string][]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		res, acts, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: write it as resource: action, action", i+1)
		}
		for _, a := range strings.Split(acts, ",") {
			if a = strings.TrimSpace(a); a != "" {
				perms[strings.TrimSpace(res)] = append(perms[strings.TrimSpace(res)], a)
			}
		}
	}
	return perms, nil
}

func (u *UI) rolesPost(w http.ResponseWriter, r *http.Request, s *session) {
	perms, err := parsePermissions(r.PostFormValue("permissions"))
	if err != nil {
		u.showRoles(w, r, s, http.StatusUnprocessableEntity, "Permissions: "+err.Error())
		return
	}
	u.act(w, r, s, func() error {
		_, err := s.cp.CreateRole(r.Context(), r.PathValue("org"), r.PostFormValue("name"), perms)
		return err
	}, orgPath(r, "/roles?done=role-created"), u.showRoles)
}

// rolePost replaces a custom role's permissions; the new ones hold at the
// next decision the control plane makes for its holders.
func (u *UI) rolePost(w http.ResponseWriter, r *http.Request, s *session) {
	perms, err := parsePermissions(r.PostFormValue("permissions"))
	if err != nil {
		u.showRoles(w, r, s, http.StatusUnprocessableEntity, "Permissions: "+err.Error())
		return
	}
	u.act(w, r, s, func() error {
		return s.cp.Do(r.Context(), http.MethodPatch, "/api/v1/roles/"+url.PathEscape(r.PathValue("role")), nil,
			map[string]any{"permissions": perms}, nil)
	}, orgPath(r, "/roles?done=role-updated"), u.showRoles)
}

func (u *UI) roleDeletePost(w http.ResponseWriter, r *http.Request, s *session) {
	u.act(w, r, s, func() error {
		return s.cp.Do(r.Context(), http.MethodDelete, "/api/v1/roles/"+url.PathEscape(r.PathValue("role")), nil, nil, nil)
	}, orgPath(r, "/roles?done=role-deleted"), u.showRoles)
}

// assignPost gives a role to a user or a team ("user:<id>" or "team:<id>"),
// in the whole organization or in one workspace.
func (u *UI) assignPost(w http.ResponseWriter, r *http.Request, s *session) {
	req := client.AssignmentRequest{Role: r.PostFormValue("role"), Scope: "organization"}
	kind, id, _ := strings.Cut(r.PostFormValue("subject"), ":")
	switch kind {
	case "user":
		req.UserID = id
	case "team":
		req.TeamID = id
	default:
		u.showRoles(w, r, s, http.StatusUnprocessableEntity, "Choose a member or a team.")
		return
	}
	if ws := r.PostFormValue("workspace_id"); ws != "" {
		req.Scope, req.WorkspaceID = "workspace", ws
	}
	u.act(w, r, s, func() error {
		_, err := s.cp.Assign(r.Context(), r.PathValue("org"), req)
		return err
	}, orgPath(r, "/roles?done=assigned"), u.showRoles)
}

func (u *UI) unassignPost(w http.ResponseWriter, r *http.Request, s *session) {
	u.act(w, r, s, func() error {
		return s.cp.Do(r.Context(), http.MethodDelete, "/api/v1/role_assignments/"+url.PathEscape(r.PathValue("a")), nil, nil, nil)
	}, orgPath(r, "/roles?done=unassigned"), u.showRoles)
}
