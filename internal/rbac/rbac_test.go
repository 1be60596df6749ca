package rbac

import "testing"

func TestParseResource(t *testing.T) {
	good := map[string]Resource{
		"pipeline":        {Type: "pipeline"},
		"pipeline_run/r1": {Type: "pipeline_run", ID: "r1"},
		"p1:secret/s-1":   {Project: "p1", Type: "secret", ID: "s-1"},
		"p1:stack":        {Project: "p1", Type: "stack"},
		"workspace/ws_2":  {Type: "workspace", ID: "ws_2"},
	}
	for s, want := range good {
		got, err := ParseResource(s)
		if err != nil || got != want {
			t.Errorf("ParseResource(%q) = %+v, %v", s, got, err)
		}
		if got.String() != s {
			t.Errorf("String() = %q, want %q", got.String(), s)
		}
	}
	for _, s := range []string{"", "nope", "pipeline/", "p:q:pipeline", "pipeline/a b", ":pipeline", "pipeline/a/b"} {
		if _, err := ParseResource(s); err == nil {
			t.Errorf("ParseResource(%q) accepted", s)
		}
	}
}

func TestAllowed(t *testing.T) {
	admin, _ := Builtin(AdminRole)
	editor, _ := Builtin(EditorRole)
	viewer, _ := Builtin(ViewerRole)
	run := Target{OrganizationID: "o1", WorkspaceID: "w1", Resource: Resource{Project: "p1", Type: "pipeline_run", ID: "r1"}}
	secret := Target{OrganizationID: "o1", WorkspaceID: "w1", Resource: Resource{Type: "secret", ID: "s1"}}
	members := Target{OrganizationID: "o1", Resource: Resource{Type: Member}}
	otherOrg := Target{OrganizationID: "o2", WorkspaceID: "w9", Resource: Resource{Type: "pipeline_run"}}

	cases := []struct {
		name   string
		grants []Grant
		shares []ResourceShare
		target Target
		action Action
		want   bool
	}{
		{"nothing denies", nil, nil, run, Read, false},
		{"org admin manages members", []Grant{{ScopeOrganization, "o1", admin}}, nil, members, Create, true},
		{"org admin elsewhere", []Grant{{ScopeOrganization, "o1", admin}}, nil, otherOrg, Read, false},
		{"editor creates runs", []Grant{{ScopeOrganization, "o1", editor}}, nil, run, Create, true},
		{"editor cannot manage workspace users", []Grant{{ScopeOrganization, "o1", editor}}, nil, Target{OrganizationID: "o1", WorkspaceID: "w1", Resource: Resource{Type: "user"}}, Create, false},
		{"editor cannot manage members", []Grant{{ScopeOrganization, "o1", editor}}, nil, members, Create, false},
		{"viewer reads", []Grant{{ScopeWorkspace, "w1", viewer}}, nil, run, Read, true},
		{"viewer cannot create", []Grant{{ScopeWorkspace, "w1", viewer}}, nil, run, Create, false},
		{"viewer cannot read secret values", []Grant{{ScopeWorkspace, "w1", viewer}}, nil, secret, ReadSecretValue, false},
		{"workspace grant elsewhere", []Grant{{ScopeWorkspace, "w2", admin}}, nil, run, Read, false},
		{"project grant covers its project", []Grant{{ScopeProject, "p1", editor}}, nil, run, Update, true},
		{"project grant not other projects", []Grant{{ScopeProject, "p2", editor}}, nil, run, Update, false},
		{"project grant not unscoped", []Grant{{ScopeProject, "p1", editor}}, nil, secret, Read, false},
		{"share of one resource", nil, []ResourceShare{{Resource{Type: "secret", ID: "s1"}, []Action{Read}}}, secret, Read, true},
		{"share is only its actions", nil, []ResourceShare{{Resource{Type: "secret", ID: "s1"}, []Action{Read}}}, secret, Delete, false},
		{"share is only its resource", nil, []ResourceShare{{Resource{Type: "secret", ID: "s2"}, []Action{Read}}}, secret, Read, false},
		{"empty scope id", []Grant{{ScopeOrganization, "", admin}}, nil, Target{Resource: Resource{Type: Member}}, Read, false},
		{"custom role", []Grant{{ScopeWorkspace, "w1", Permissions{"pipeline_run": {Read, Update}}}}, nil, run, Update, true},
		{"custom role other type", []Grant{{ScopeWorkspace, "w1", Permissions{"pipeline_run": {Read}}}}, nil, secret, Read, false},
	}
	for _, c := range cases {
		if got := Allowed(c.grants, c.shares, c.target, c.action); got != c.want {
			t.Errorf("%s: Allowed = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestFullAccess(t *testing.T) {
	viewer, _ := Builtin(ViewerRole)
	tg := Target{OrganizationID: "o1", WorkspaceID: "w1"}
	if !FullAccess([]Grant{{ScopeWorkspace, "w1", viewer}}, tg, "pipeline", Read) {
		t.Fatal("workspace viewer lacks full read")
	}
	if FullAccess([]Grant{{ScopeProject, "p1", viewer}}, tg, "pipeline", Read) {
		t.Fatal("a project grant gave full access")
	}
	if FullAccess([]Grant{{ScopeWorkspace, "w1", viewer}}, tg, "pipeline", Create) {
		t.Fatal("viewer has full create")
	}
}

func TestPermissionsValidate(t *testing.T) {
	if err := (Permissions{"pipeline": {Read}}).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Permissions{{}, {"bogus": {Read}}, {"pipeline": {}}, {"pipeline": {"fly"}}} {
		if p.Validate() == nil {
			t.Errorf("%v accepted", p)
		}
	}
}
