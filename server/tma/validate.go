package tma

import (
	"net/mail"
	"slices"
	"strings"
	"unicode/utf8"
)

// Locales are the languages of the UI, the first being the default.
var Locales = []string{"en", "de"}

// ValidLocale reports whether l is a stored language preference: one of
// Locales, or "" for the browser's choice.
func ValidLocale(l string) bool { return l == "" || slices.Contains(Locales, l) }

// Password policy: long passphrases rather than composition rules (NIST
// SP 800-63B). The upper bound keeps argon2 input sane.
const (
	MinPasswordLen = 12  // characters
	MaxPasswordLen = 256 // bytes
)

// ValidatePassword enforces the password policy with a clear message.
func ValidatePassword(password string) error {
	if err := CheckText("password", password); err != nil {
		return err
	}
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return Errorf(EINVALID, "The password must have at least %d characters.", MinPasswordLen)
	}
	if len(password) > MaxPasswordLen {
		return Errorf(EINVALID, "The password must have at most %d bytes.", MaxPasswordLen)
	}
	return nil
}

// CheckText refuses text that no column can store and no person can read:
// invalid UTF-8 and NUL bytes. field names the input in the message.
func CheckText(field, s string) error {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return BadText(field)
	}
	return nil
}

// BadText is the error for input that is not valid UTF-8 or holds a NUL.
func BadText(field string) error {
	return Errorf(EINVALID, "The field %q contains characters that are not allowed (invalid UTF-8 or a NUL byte).", field)
}

// CleanText makes text that is only recorded, never typed by the user
// (a User-Agent header), storable: invalid UTF-8 and control characters are
// replaced, and it is cut to max bytes at a character boundary.
func CleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '\uFFFD'
		}
		return r
	}, s)
	for len(s) > max {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// NormalizeEmail lower-cases and checks an e-mail address.
func NormalizeEmail(s string) (string, error) {
	if err := CheckText("email", s); err != nil {
		return "", err
	}
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 {
		return "", Errorf(EINVALID, "Enter a valid e-mail address.")
	}
	return s, nil
}

// NormalizeRoles checks, sorts and de-duplicates roles. Every account needs
// at least one role (a user without one could do nothing at all), and the
// auditor role excludes the administrator role: whoever manages accounts
// must not also review the record of it.
func NormalizeRoles(roles []Role) ([]Role, error) {
	out := slices.Clone(roles)
	for _, r := range out {
		if !r.Valid() {
			if err := CheckText("roles", string(r)); err != nil {
				return nil, err
			}
			return nil, Errorf(EINVALID, "Unknown role %q.", r)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, Errorf(EINVALID, "Choose at least one role. To take all access away, lock the account instead.")
	}
	if slices.Contains(out, RoleAdmin) && slices.Contains(out, RoleAuditor) {
		return nil, Errorf(EINVALID, "The auditor role cannot be combined with the administrator role: whoever manages accounts must not also review the record of it.")
	}
	return out, nil
}

// Validate normalises nu in place and checks it.
func (nu *NewUser) Validate() error {
	email, err := NormalizeEmail(nu.Email)
	if err != nil {
		return err
	}
	if err := CheckText("name", nu.DisplayName); err != nil {
		return err
	}
	name := strings.TrimSpace(nu.DisplayName)
	if name == "" || len(name) > 200 {
		return Errorf(EINVALID, "The name must have 1 to 200 characters.")
	}
	if err := ValidatePassword(nu.Password); err != nil {
		return err
	}
	if err := CheckText("locale", nu.Locale); err != nil {
		return err
	}
	if !ValidLocale(nu.Locale) {
		return Errorf(EINVALID, "Unknown language %q.", nu.Locale)
	}
	roles, err := NormalizeRoles(nu.Roles)
	if err != nil {
		return err
	}
	nu.Email, nu.DisplayName, nu.Roles = email, name, roles
	return nil
}

// Validate normalises t in place and checks it.
func (t *Tenant) Validate() error {
	if err := CheckText("slug", t.Slug); err != nil {
		return err
	}
	if err := CheckText("name", t.Name); err != nil {
		return err
	}
	t.Slug = strings.ToLower(strings.TrimSpace(t.Slug))
	t.Name = strings.TrimSpace(t.Name)
	if !ValidSlug(t.Slug) {
		return Errorf(EINVALID, "The tenant slug must be 2 to 63 lower-case letters, digits or dashes.")
	}
	if t.Name == "" || len(t.Name) > 200 {
		return Errorf(EINVALID, "The tenant name must have 1 to 200 characters.")
	}
	return nil
}

// ValidSlug reports whether s has the form of a tenant slug: 2 to 63
// lower-case letters, digits or dashes, not starting with a dash.
func ValidSlug(s string) bool {
	if len(s) < 2 || len(s) > 63 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
