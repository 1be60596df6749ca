package bundle

import (
	"errors"
	"fmt"
	"strings"
)

// Mapping decides where each repository of a bundle goes in the internal
// registry. Registries differ: Harbor wants everything under a project,
// Artifactory under a repository key, GitLab and some others limit how deep
// a path may be. So the source path (host dropped) is first rewritten by the
// first matching rule, then put under the prefix, then flattened if too deep.
type Mapping struct {
	// Registry is HOST[:PORT][/PREFIX], e.g. harbor.internal/enclave.
	Registry string
	// Rules rewrite a leading part of the source path, e.g. "library/=base/".
	Rules []Rule
	// MaxDepth limits path components after the host, prefix included; 0 is
	// no limit. Extra components are joined with Separator.
	MaxDepth  int
	Separator string // default "-"
}

// Rule replaces the leading From of a source path with To. From ending in
// '/' matches whole components; an exact From matches the whole path.
type Rule struct{ From, To string }

// ParseRule reads FROM=TO.
func ParseRule(s string) (Rule, error) {
	from, to, ok := strings.Cut(s, "=")
	if !ok || from == "" {
		return Rule{}, fmt.Errorf("mapping rule %q: want FROM=TO", s)
	}
	return Rule{From: from, To: to}, nil
}

// split returns the host and the prefix path of the destination.
func (m Mapping) split() (host, prefix string, err error) {
	r := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(m.Registry, "https://"), "http://"), "/")
	host, prefix, _ = strings.Cut(r, "/")
	if host == "" {
		return "", "", errors.New("no destination registry")
	}
	if prefix != "" {
		if err := checkRepoPath(prefix); err != nil {
			return "", "", fmt.Errorf("registry prefix: %w", err)
		}
	}
	return host, prefix, nil
}

// Map returns the destination repository (HOST/PATH) for a source path.
func (m Mapping) Map(src string) (string, error) {
	host, prefix, err := m.split()
	if err != nil {
		return "", err
	}
	p := src
	for _, r := range m.Rules {
		if rest, ok := strings.CutPrefix(p, r.From); ok && (strings.HasSuffix(r.From, "/") || rest == "") {
			p = r.To + rest
			break
		}
	}
	p = strings.Trim(p, "/")
	comps := []string{}
	if prefix != "" {
		comps = strings.Split(prefix, "/")
	}
	if p != "" {
		comps = append(comps, strings.Split(p, "/")...)
	}
	if len(comps) == 0 {
		return "", fmt.Errorf("%s maps to an empty path", src)
	}
	if m.MaxDepth > 0 && len(comps) > m.MaxDepth {
		sep := m.Separator
		if sep == "" {
			sep = "-"
		}
		keep := m.MaxDepth - 1
		if keep < len(strings.Split(prefix, "/")) && prefix != "" {
			return "", fmt.Errorf("prefix %q is deeper than --max-depth %d allows", prefix, m.MaxDepth)
		}
		comps = append(comps[:keep:keep], strings.Join(comps[keep:], sep))
	}
	out := strings.Join(comps, "/")
	if err := checkRepoPath(out); err != nil {
		return "", fmt.Errorf("%s maps to %s: %w", src, out, err)
	}
	return host + "/" + out, nil
}
