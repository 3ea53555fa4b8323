package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// runCLI runs a tma command against the server's database, as the operator.
func (s *testServer) runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	env := map[string]string{"TMA_DATABASE_URL": s.Config.DatabaseURL, "TMA_DATA_DIR": s.Config.DataDir}
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), err
}

// signIn tries a password and returns the status of POST /login.
func (s *testServer) signIn(t *testing.T, tenant, email, password string) int {
	t.Helper()
	c := s.client(t)
	c.get("/login")
	status, _ := c.post("/login", url.Values{"tenant": {tenant}, "email": {email}, "password": {password}})
	return status
}

// countEvents counts the tenant's audit events of one action.
func (s *testServer) countEvents(t *testing.T, tenantID, action string) int {
	t.Helper()
	events, err := postgres.NewAuditService(s.DB).FindAuditEvents(context.Background(), tenantID, tma.AuditFilter{Action: action, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}

// TestAdminCannotBecomeAuditor: only the operator (the tma command line)
// creates auditors, grants or removes the role, and sets or locks an
// auditor's credentials. Every path an administrator has is refused with
// 403, changes nothing, and is audited.
func TestAdminCannotBecomeAuditor(t *testing.T) {
	srv := startServer(t, nil)
	ctx := context.Background()
	tn, users := srv.mustTenant(t, "acme", tma.RoleAdmin, tma.RoleLegal, tma.RoleAuditor)
	admin, legal, auditor := users[0], users[1], users[2]
	c := srv.client(t)
	c.login("acme", admin.Email)

	type attempt struct {
		name   string
		send   func() (int, string)
		status int
	}
	attempts := []attempt{
		{"create an auditor in the UI", func() (int, string) {
			return c.post("/admin/users", url.Values{"name": {"Eve"}, "email": {"eve@acme.example"}, "password": {"eve's long password"}, "role_auditor": {"on"}})
		}, http.StatusForbidden},
		{"create an auditor through the API", func() (int, string) {
			return c.sendJSON(http.MethodPost, "/api/v1/users", `{"email":"eve2@acme.example","display_name":"Eve","password":"eve's long password","roles":["auditor"]}`)
		}, http.StatusForbidden},
		{"create an auditor with a second role", func() (int, string) {
			return c.post("/admin/users", url.Values{"name": {"Eve"}, "email": {"eve3@acme.example"}, "password": {"eve's long password"}, "role_legal": {"on"}, "role_auditor": {"on"}})
		}, http.StatusForbidden},
		{"grant auditor to an existing user in the UI", func() (int, string) {
			return c.post("/admin/users/"+legal.ID+"/roles", url.Values{"role_legal": {"on"}, "role_auditor": {"on"}})
		}, http.StatusForbidden},
		{"grant auditor through the API", func() (int, string) {
			return c.sendJSON(http.MethodPut, "/api/v1/users/"+legal.ID+"/roles", `{"roles":["auditor"]}`)
		}, http.StatusForbidden},
		{"reset an auditor's password", func() (int, string) {
			return c.post("/admin/users/"+auditor.ID+"/password", url.Values{"password": {"admin knows this one"}})
		}, http.StatusForbidden},
		{"take the auditor role away", func() (int, string) {
			return c.post("/admin/users/"+auditor.ID+"/roles", url.Values{"role_legal": {"on"}})
		}, http.StatusForbidden},
		{"lock an auditor", func() (int, string) {
			return c.post("/admin/users/"+auditor.ID+"/status", url.Values{"disabled": {"true"}})
		}, http.StatusForbidden},
		{"read the audit log", func() (int, string) { return c.get("/audit") }, http.StatusForbidden},
		{"read the audit log through the API", func() (int, string) { return c.get("/api/v1/audit") }, http.StatusForbidden},
	}
	for _, a := range attempts {
		status, body := a.send()
		if status != a.status {
			t.Errorf("%s: status %d, want %d: %.300q", a.name, status, a.status, body)
		}
		if strings.Contains(a.name, "auditor") && !strings.Contains(body, "operator") {
			t.Errorf("%s: the answer does not say who may do it: %.300q", a.name, body)
		}
	}

	// Nothing changed.
	all, err := postgres.NewUserService(srv.DB).FindUsers(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	auditors := 0
	for _, u := range all {
		if u.HasRole(tma.RoleAuditor) {
			auditors++
		}
		if strings.HasPrefix(u.Email, "eve") {
			t.Errorf("user %s was created", u.Email)
		}
	}
	if auditors != 1 || len(all) != 3 {
		t.Errorf("after the attempts: %d users, %d auditors; want 3 and 1", len(all), auditors)
	}
	if got := srv.signIn(t, "acme", auditor.Email, "admin knows this one"); got != http.StatusUnauthorized {
		t.Errorf("the password the admin tried to set works: status %d", got)
	}
	if got := srv.signIn(t, "acme", auditor.Email, testPassword); got != http.StatusSeeOther {
		t.Errorf("the auditor's own password no longer works: status %d", got)
	}
	// Each refused change is in the audit log (the two reads are
	// access.denied events).
	if got := srv.countEvents(t, tn.ID, tma.AuditChangeRefused); got != 8 {
		t.Errorf("%d refused changes audited, want 8", got)
	}

	// What stays with administrators: ending an auditor's sessions.
	if status, body := c.post("/admin/users/"+auditor.ID+"/sessions/revoke", nil); status != http.StatusOK {
		t.Errorf("revoke an auditor's sessions: %d %.200q", status, body)
	}

	// The operator creates auditors and manages their credentials.
	out, err := srv.runCLI(t, "user", "create", "--tenant", "acme", "--email", "second.auditor@acme.example", "--name", "Second Auditor", "--roles", "auditor")
	if err != nil || !strings.Contains(out, "password (shown once)") {
		t.Fatalf("operator creates an auditor: %v\n%s", err, out)
	}
	if out, err := srv.runCLI(t, "user", "password", "--tenant", "acme", "--email", auditor.Email); err != nil || !strings.Contains(out, "new password") {
		t.Fatalf("operator resets an auditor's password: %v\n%s", err, out)
	}
	if out, err := srv.runCLI(t, "user", "roles", "--tenant", "acme", "--email", legal.Email, "--roles", "auditor,legal"); err != nil {
		t.Fatalf("operator grants auditor: %v\n%s", err, out)
	}
	if out, err := srv.runCLI(t, "user", "roles", "--tenant", "acme", "--email", admin.Email, "--roles", "admin,auditor"); err == nil {
		t.Fatalf("even the operator cannot make an admin auditor:\n%s", out)
	}
}

// TestAdminLiftsLockout: after a lockout, a password reset and the admin's
// unlock (page and command line) each let the user sign in at once.
func TestAdminLiftsLockout(t *testing.T) {
	srv := startServer(t, map[string]string{"TMA_THROTTLE_ACCOUNT": "3"})
	tn, users := srv.mustTenant(t, "acme", tma.RoleAdmin, tma.RoleLegal)
	admin, legal := users[0], users[1]
	c := srv.client(t)
	c.login("acme", admin.Email)

	lockOut := func() {
		t.Helper()
		for i := 0; i < 3; i++ {
			srv.signIn(t, "acme", legal.Email, "a wrong password")
		}
		if got := srv.signIn(t, "acme", legal.Email, testPassword); got != http.StatusTooManyRequests {
			t.Fatalf("after three wrong passwords: status %d, want 429", got)
		}
	}

	lockOut()
	if status, body := c.post("/admin/users/"+legal.ID+"/password", url.Values{"password": {"a brand new password"}}); status != http.StatusOK {
		t.Fatalf("reset: %d %.200q", status, body)
	}
	if got := srv.signIn(t, "acme", legal.Email, "a brand new password"); got != http.StatusSeeOther {
		t.Fatalf("sign-in with the reset password: status %d, want 303", got)
	}

	srv.mustResetPassword(t, tn.ID, legal.ID)
	lockOut()
	if status, body := c.post("/admin/users/"+legal.ID+"/unlock", nil); status != http.StatusOK || !strings.Contains(body, "lockout was lifted") {
		t.Fatalf("unlock: %d %.200q", status, body)
	}
	if got := srv.signIn(t, "acme", legal.Email, testPassword); got != http.StatusSeeOther {
		t.Fatalf("sign-in after the admin's unlock: status %d, want 303", got)
	}

	lockOut()
	if out, err := srv.runCLI(t, "user", "unlock", "--tenant", "acme", "--email", legal.Email); err != nil {
		t.Fatalf("tma user unlock: %v\n%s", err, out)
	}
	if got := srv.signIn(t, "acme", legal.Email, testPassword); got != http.StatusSeeOther {
		t.Fatalf("sign-in after tma user unlock: status %d, want 303", got)
	}
	if got := srv.countEvents(t, tn.ID, tma.AuditLockoutLifted); got != 2 {
		t.Errorf("%d lockout lifts audited, want 2", got)
	}
}

// mustResetPassword sets the test password again, as the operator.
func (s *testServer) mustResetPassword(t *testing.T, tenantID, userID string) {
	t.Helper()
	ctx := systemCtx(context.Background(), tenantID)
	if err := postgres.NewUserService(s.DB).ResetPassword(ctx, tenantID, userID, testPassword); err != nil {
		t.Fatal(err)
	}
}
