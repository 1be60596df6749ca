package bundle

import (
	"strings"
	"testing"
)

func TestMapping(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Mapping
		src  string
		want string // "" when an error is expected
	}{
		{"prefix keeps path", Mapping{Registry: "harbor.internal/enclave"}, "team/app", "harbor.internal/enclave/team/app"},
		{"no prefix", Mapping{Registry: "reg:5000"}, "team/app", "reg:5000/team/app"},
		{"scheme and slash dropped", Mapping{Registry: "https://reg/p/"}, "a", "reg/p/a"},
		{"rule", Mapping{Registry: "art/docker-remote", Rules: []Rule{{"library/", "base/"}}}, "library/postgres", "art/docker-remote/base/postgres"},
		{"first rule wins", Mapping{Registry: "r", Rules: []Rule{{"a/", "x/"}, {"a/", "y/"}}}, "a/b", "r/x/b"},
		{"exact rule", Mapping{Registry: "r", Rules: []Rule{{"team/app", "app"}}}, "team/app", "r/app"},
		{"exact rule needs whole path", Mapping{Registry: "r", Rules: []Rule{{"team/app", "x"}}}, "team/apple", "r/team/apple"},
		{"depth flattened", Mapping{Registry: "gitlab/group/proj", MaxDepth: 3}, "team/sub/app", "gitlab/group/proj/team-sub-app"},
		{"depth with separator", Mapping{Registry: "r/p", MaxDepth: 2, Separator: "_"}, "a/b/c", "r/p/a_b_c"},
		{"depth fits", Mapping{Registry: "r/p", MaxDepth: 3}, "a/b", "r/p/a/b"},
		{"prefix too deep", Mapping{Registry: "r/a/b/c", MaxDepth: 2}, "x", ""},
		{"bad result", Mapping{Registry: "r", Rules: []Rule{{"a/", "UPPER/"}}}, "a/b", ""},
		{"no registry", Mapping{}, "a", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.m.Map(tc.src)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Map(%q) = %q, want an error", tc.src, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Map(%q) = %q, %v; want %q", tc.src, got, err, tc.want)
			}
		})
	}
}

func TestParseRule(t *testing.T) {
	if r, err := ParseRule("library/=base/"); err != nil || r != (Rule{"library/", "base/"}) {
		t.Fatalf("got %v %v", r, err)
	}
	for _, bad := range []string{"", "noequals", "=x"} {
		if _, err := ParseRule(bad); err == nil || !strings.Contains(err.Error(), "FROM=TO") {
			t.Errorf("ParseRule(%q): %v", bad, err)
		}
	}
}
