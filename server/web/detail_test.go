package web

import "testing"

func TestAuditDetail(t *testing.T) {
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		action, detail string
		en, de         string
	}{
		{"login.succeeded", "password", "Password", "Passwort"},
		{"login.succeeded", "password+totp", "Password and authenticator app", "Passwort und Authenticator-App"},
		{"login.succeeded", "password+recovery_code", "Password and recovery code", "Passwort und Wiederherstellungscode"},
		{"login.failed", "wrong password", "Wrong password", "Falsches Passwort"},
		{"login.failed", "unknown user", "Unknown account", "Unbekanntes Konto"},
		{"login.failed", "account disabled", "Account locked", "Konto gesperrt"},
		{"login.failed", "wrong current password", "Wrong current password", "Falsches aktuelles Passwort"},
		{"mfa.enrolled", "totp", "Authenticator app", "Authenticator-App"},
		{"logout", "", "—", "—"},
		{"sessions.revoked", "sessions=3", "Sessions ended: 3", "Beendete Sitzungen: 3"},
		{"tenant.settings_changed", "require_mfa=on", "Two-factor authentication required: yes", "Zwei-Faktor-Authentifizierung verlangt: ja"},
		{"tenant.settings_changed", "require_mfa=off", "Two-factor authentication required: no", "Zwei-Faktor-Authentifizierung verlangt: nein"},
		{"user.locale_changed", "locale=de", "Language: German", "Sprache: Deutsch"},
		{"user.locale_changed", "locale=", "Language: As in my browser", "Sprache: Wie im Browser"},
		{"user.roles_changed", "roles=admin,legal", "Roles: Administrator, Legal", "Rollen: Administrator, Recht"},
		{"user.created", "roles=", "Roles: —", "Rollen: —"},
		{"key.rotated", "provider=local key=k1 version=2 rewrapped=5",
			"Key provider: local, Key: k1, Version: 2, Case keys rewrapped: 5",
			"Schlüsselanbieter: local, Schlüssel: k1, Version: 2, Neu verpackte Fallschlüssel: 5"},
		{"integrity.failure", "row content does not match its hash", "The row's content does not match its hash", "Der Inhalt der Zeile passt nicht zu ihrem Hash"},
		// Not ours: shown as stored.
		{"access.denied", "audit:read /audit", "audit:read /audit", "audit:read /audit"},
		{"user.roles_changed", "roles=admin x=1", "roles=admin x=1", "roles=admin x=1"},
		// Typed by someone: never translated, even when it looks like a code.
		{"case.created", "password", "password", "password"},
		{"tenant.created", "sessions=3", "sessions=3", "sessions=3"},
	}
	for _, tc := range tests {
		for loc, want := range map[string]string{"en": tc.en, "de": tc.de} {
			v := &view{Locale: loc, catalog: p.catalog}
			if got := v.Detail(tc.action, tc.detail); got != want {
				t.Errorf("%s: Detail(%q, %q) = %q, want %q", loc, tc.action, tc.detail, got, want)
			}
		}
	}
}
