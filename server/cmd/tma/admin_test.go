package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

func TestAdminManagesUsers(t *testing.T) {
	srv := startServer(t, nil)
	ctx := context.Background()
	tn, users := srv.mustTenant(t, "acme", tma.RoleAdmin)
	admin := srv.client(t)
	admin.login("acme", users[0].Email)

	status, body := admin.post("/admin/users", url.Values{
		"name": {"Hannah Legal"}, "email": {"Hannah@Acme.example"}, "password": {"initial password 1"}, "role_legal": {"on"},
	})
	if status != http.StatusOK || !strings.Contains(body, "hannah@acme.example") {
		t.Fatalf("create user: %d %.300q", status, body)
	}
	status, body = admin.post("/admin/users", url.Values{"name": {"X"}, "email": {"hannah@acme.example"}, "password": {"initial password 1"}, "role_hr": {"on"}})
	if status != http.StatusConflict || !strings.Contains(body, "exists already") {
		t.Fatalf("duplicate e-mail: %d", status)
	}
	status, _ = admin.post("/admin/users", url.Values{"name": {"Y"}, "email": {"y@acme.example"}, "password": {"short"}, "role_hr": {"on"}})
	if status != http.StatusBadRequest {
		t.Fatalf("weak password: %d", status)
	}
	status, body = admin.post("/admin/users", url.Values{"name": {"Z"}, "email": {"z@acme.example"}, "password": {"initial password 1"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "at least one role") {
		t.Fatalf("a user without roles: %d %.300q", status, body)
	}
	all, _ := postgres.NewUserService(srv.DB).FindUsers(ctx, tn.ID)
	var hannah *tma.User
	for _, u := range all {
		if u.Email == "hannah@acme.example" {
			hannah = u
		}
	}
	if hannah == nil || len(all) != 2 {
		t.Fatalf("users after create: %d", len(all))
	}

	h := srv.client(t)
	h.get("/login")
	if status, _ := h.post("/login", url.Values{"tenant": {"acme"}, "email": {"hannah@acme.example"}, "password": {"initial password 1"}}); status != http.StatusSeeOther {
		t.Fatalf("new user cannot sign in: %d", status)
	}

	steps := []struct {
		path string
		form url.Values
	}{
		{"/admin/users/" + hannah.ID + "/roles", url.Values{"role_legal": {"on"}, "role_hr": {"on"}}},
		{"/admin/users/" + hannah.ID + "/password", url.Values{"password": {"reset password 22"}}},
		{"/admin/users/" + hannah.ID + "/sessions/revoke", nil},
		{"/admin/users/" + hannah.ID + "/status", url.Values{"disabled": {"true"}}},
		{"/admin/users/" + hannah.ID + "/status", url.Values{"disabled": {"false"}}},
	}
	for _, s := range steps {
		if status, body := admin.post(s.path, s.form); status != http.StatusOK {
			t.Fatalf("POST %s: %d %.300q", s.path, status, body)
		}
	}
	u, _ := postgres.NewUserService(srv.DB).FindUserByID(ctx, tn.ID, hannah.ID)
	if !u.HasRole(tma.RoleHR) || !u.HasRole(tma.RoleLegal) || u.Disabled {
		t.Fatalf("after admin changes: %+v", u)
	}
	if status, _ := h.get("/account"); status != http.StatusSeeOther {
		t.Fatalf("the user's session survived a password reset: %d", status)
	}
	h.get("/login")
	if status, _ := h.post("/login", url.Values{"tenant": {"acme"}, "email": {"hannah@acme.example"}, "password": {"reset password 22"}}); status != http.StatusSeeOther {
		t.Fatalf("sign-in with the reset password: %d", status)
	}
	// Nobody changes their own roles: an admin cannot make themselves
	// auditor (or drop the last admin role of the tenant).
	// Separation of duties is checked first (and the attempt audited),
	// before the roles' own rules.
	if status, _ := admin.post("/admin/users/"+users[0].ID+"/roles", url.Values{"role_admin": {"on"}, "role_auditor": {"on"}}); status != http.StatusForbidden {
		t.Fatalf("admin plus auditor: %d, want 403", status)
	}
	if status, _ := admin.post("/admin/users/"+users[0].ID+"/roles", url.Values{"role_legal": {"on"}}); status != http.StatusForbidden {
		t.Fatalf("changing one's own roles: %d, want 403", status)
	}
	events, _ := postgres.NewAuditService(srv.DB).FindAuditEvents(ctx, tn.ID, tma.AuditFilter{Limit: 500})
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Action] = true
	}
	for _, a := range []string{tma.AuditUserCreated, tma.AuditRolesChanged, tma.AuditPasswordReset, tma.AuditSessionsRevoked, tma.AuditUserDisabled, tma.AuditUserEnabled} {
		if !seen[a] {
			t.Errorf("no %s audit event", a)
		}
	}
}

var secretRe = regexp.MustCompile(`id="totp-secret" class="secret">([A-Z2-7]+)<`)

// TestTenantRequiresMFA: once an admin requires MFA, a user without it can
// only set it up, and the rest of the portal waits until they have.
func TestTenantRequiresMFA(t *testing.T) {
	srv := startServer(t, nil)
	tn, users := srv.mustTenant(t, "acme", tma.RoleAdmin, tma.RoleLegal)
	admin := srv.client(t)
	admin.login("acme", users[0].Email)
	if status, _ := admin.post("/admin/settings", url.Values{"require_mfa": {"on"}}); status != http.StatusOK {
		t.Fatalf("settings: %d", status)
	}
	c := srv.client(t)
	c.get("/login")
	if status, _ := c.post("/login", url.Values{"tenant": {"acme"}, "email": {users[1].Email}, "password": {testPassword}}); status != http.StatusSeeOther {
		t.Fatalf("login: %d", status)
	}
	status, _, hdr := c.do(http.MethodGet, "/", nil, nil)
	if status != http.StatusSeeOther || hdr.Get("Location") != "/account/mfa" {
		t.Fatalf("dashboard without MFA: %d %s", status, hdr.Get("Location"))
	}
	status, body := c.get("/account/mfa")
	m := secretRe.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil || !strings.Contains(body, "data:image/png;base64,") {
		t.Fatalf("enrolment page: %d, secret found %v", status, m != nil)
	}
	// A mistyped code shows the same set-up again, with the same secret.
	status, body = c.post("/account/mfa", url.Values{"code": {"000000"}, "password": {testPassword}})
	if again := secretRe.FindStringSubmatch(body); status != http.StatusBadRequest || again == nil || again[1] != m[1] {
		t.Fatalf("wrong code: %d, same secret shown: %v", status, again != nil && again[1] == m[1])
	}
	code, _ := totp.GenerateCode(m[1], time.Now())
	status, body = c.post("/account/mfa", url.Values{"code": {code}, "password": {"not my password"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "current password is not correct") {
		t.Fatalf("enrolment without the right password: %d", status)
	}
	status, body = c.post("/account/mfa", url.Values{"code": {code}, "password": {testPassword}})
	if status != http.StatusOK || !strings.Contains(body, `id="recovery-codes"`) || strings.Count(body, "<code>") != 10 {
		t.Fatalf("confirm: %d %.300q", status, body)
	}
	if status, _ := c.get("/"); status != http.StatusOK {
		t.Fatalf("dashboard after enrolment: %d", status)
	}
	if status, body := c.post("/account/mfa/remove", url.Values{"password": {testPassword}}); status != http.StatusForbidden || !bytes.Contains([]byte(body), []byte("requires two-factor")) {
		t.Fatalf("removing required MFA: %d", status)
	}
	events, _ := postgres.NewAuditService(srv.DB).FindAuditEvents(context.Background(), tn.ID, tma.AuditFilter{Action: tma.AuditMFAEnrolled})
	if len(events) != 1 {
		t.Fatalf("mfa.enrolled events: %d", len(events))
	}
}
