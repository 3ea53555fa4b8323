package web

import (
	"strings"
)

// Detail shows the Detail of an audit event in the view's language. The log
// stores short codes so that its rows (and their hashes) do not depend on a
// language: words such as "password" or "wrong password", and key=value
// pairs such as "sessions=3" or "roles=admin,legal". Each known word and key
// has a label "detail.<code>" in the catalogs; a value gets the label
// "detail.<key>.<value>" if there is one (on, off), roles and languages get
// their names, and anything else is shown as it is. Case and tenant events
// carry a reference or slug that someone typed, which is never translated.
func (v *view) Detail(action, detail string) string {
	if detail == "" {
		return "—"
	}
	if strings.HasPrefix(action, "case.") || action == "tenant.created" {
		return detail
	}
	if s, ok := v.lookup("detail." + detail); ok {
		return s
	}
	if !strings.Contains(detail, "=") {
		return detail
	}
	fields := strings.Fields(detail)
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		key, val, ok := strings.Cut(f, "=")
		label, known := v.lookup("detail." + key)
		if !ok || !known {
			return detail // not one of ours: show it whole rather than half-translated
		}
		out = append(out, label+": "+v.detailValue(key, val))
	}
	return strings.Join(out, ", ")
}

func (v *view) detailValue(key, val string) string {
	switch key {
	case "roles":
		if val == "" {
			return "—"
		}
		names := strings.Split(val, ",")
		for i, r := range names {
			names[i] = v.Label("role", r)
		}
		return strings.Join(names, ", ")
	case "locale":
		if val == "" {
			return v.T("account.language.browser")
		}
	}
	if s, ok := v.lookup("detail." + key + "." + val); ok {
		return s
	}
	return val
}
