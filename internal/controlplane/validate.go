package controlplane

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

var (
	workspaceName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	username      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@+-]*$`)
	uuidPattern   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// checkName validates a display name: 1 to max characters of printable text.
func checkName(field, v string, max int) error {
	if strings.TrimSpace(v) == "" {
		return errs.E(errs.Invalid, "%s must not be empty", field)
	}
	if !utf8.ValidString(v) {
		return errs.E(errs.Invalid, "%s must be valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(v); n > max {
		return errs.E(errs.Invalid, "%s is %d characters long; the limit is %d", field, n, max)
	}
	if v != strings.TrimSpace(v) {
		return errs.E(errs.Invalid, "%s must not start or end with spaces", field)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return errs.E(errs.Invalid, "%s must not hold control characters", field)
		}
	}
	return nil
}

func checkDescription(v string) error {
	if !utf8.ValidString(v) {
		return errs.E(errs.Invalid, "description must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(v); n > 1000 {
		return errs.E(errs.Invalid, "description is %d characters long; the limit is 1000", n)
	}
	return nil
}

func checkWorkspaceName(v string) error {
	if v == "" {
		return errs.E(errs.Invalid, "workspace name must not be empty")
	}
	if len(v) > 50 {
		return errs.E(errs.Invalid, "workspace name is %d characters long; the limit is 50", len(v))
	}
	if !workspaceName.MatchString(v) {
		return errs.E(errs.Invalid, "workspace name %q may hold only lowercase letters, digits and hyphens, and must start and end with a letter or digit", v)
	}
	return nil
}

func checkUsername(v string) error {
	if v == "" || len(v) > 100 || !username.MatchString(v) {
		return errs.E(errs.Invalid, "username must be 1 to 100 letters, digits or _.@+- and start with a letter or digit")
	}
	return nil
}

func checkPassword(v string) error {
	if len(v) < 8 {
		return errs.E(errs.Invalid, "password must be at least 8 characters")
	}
	if len(v) > 256 {
		return errs.E(errs.Invalid, "password must be at most 256 characters")
	}
	return nil
}

func checkEmail(v string) error {
	if v == "" {
		return nil
	}
	if len(v) > 254 || !strings.Contains(v, "@") || strings.ContainsAny(v, " \t\r\n<>") {
		return errs.E(errs.Invalid, "email %q is not an address", v)
	}
	return nil
}

// checkID refuses anything that is not a UUID, before it reaches a query.
func checkID(field, v string) error {
	if !uuidPattern.MatchString(v) {
		return errs.E(errs.Invalid, "%s %q is not a valid id", field, v)
	}
	return nil
}

// checkRole checks that role is a built-in name or a custom role id.
func checkRoleName(v string) error {
	if rbac.IsBuiltin(v) || uuidPattern.MatchString(v) {
		return nil
	}
	return errs.E(errs.Invalid, "role %q is neither Admin, Editor, Viewer nor a custom role id", v)
}
