package doctor

import (
	"fmt"
	"strconv"
	"strings"
)

// semver is a parsed MAJOR.MINOR.PATCH[-PRE][+BUILD] version.
type semver struct {
	num [3]int
	pre string
}

func parseVersion(s string) (semver, error) {
	var v semver
	t := strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexByte(t, '+'); i >= 0 {
		t = t[:i]
	}
	if i := strings.IndexByte(t, '-'); i >= 0 {
		t, v.pre = t[:i], t[i+1:]
		if v.pre == "" {
			return v, fmt.Errorf("version %q: empty pre-release", s)
		}
	}
	parts := strings.Split(t, ".")
	if len(parts) < 1 || len(parts) > 3 {
		return v, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" {
			return v, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH", s)
		}
		v.num[i] = n
	}
	return v, nil
}

// compareVersions returns -1, 0 or 1 as a is older than, the same as or
// newer than b. A pre-release comes before its release; two pre-releases of
// one release compare by their dot-separated parts, numbers numerically.
func compareVersions(a, b string) (int, error) {
	va, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	for i := range va.num {
		if c := cmpInt(va.num[i], vb.num[i]); c != 0 {
			return c, nil
		}
	}
	switch {
	case va.pre == vb.pre:
		return 0, nil
	case va.pre == "":
		return 1, nil
	case vb.pre == "":
		return -1, nil
	}
	pa, pb := strings.Split(va.pre, "."), strings.Split(vb.pre, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, errA := strconv.Atoi(pa[i])
		nb, errB := strconv.Atoi(pb[i])
		var c int
		switch {
		case errA == nil && errB == nil:
			c = cmpInt(na, nb)
		case errA == nil: // numbers sort before words
			c = -1
		case errB == nil:
			c = 1
		default:
			c = strings.Compare(pa[i], pb[i])
		}
		if c != 0 {
			return c, nil
		}
	}
	return cmpInt(len(pa), len(pb)), nil
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
