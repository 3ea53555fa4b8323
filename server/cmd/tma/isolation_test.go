package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

func TestTenantIsolation(t *testing.T) {
	srv := startServer(t, nil)
	ctx := context.Background()
	_, aUsers := srv.mustTenant(t, "alpha", tma.RoleAdmin, tma.RoleAuditor, tma.RoleLegal)
	tb, bUsers := srv.mustTenant(t, "beta", tma.RoleAdmin, tma.RoleAuditor, tma.RoleHR)
	aAdmin, aAuditor := aUsers[0], aUsers[1]
	bHR := bUsers[2]

	// Something happens in tenant B that would show in its audit log.
	bClient := srv.client(t)
	bClient.login("beta", bHR.Email)

	admin := srv.client(t)
	admin.login("alpha", aAdmin.Email)
	auditor := srv.client(t)
	auditor.login("alpha", aAuditor.Email)

	// Nothing of tenant B may appear anywhere tenant A can look.
	secrets := []string{"beta.example", tb.ID, bHR.ID, "Org beta"}
	for _, u := range bUsers {
		secrets = append(secrets, u.ID, u.Email)
	}
	noLeak := func(t *testing.T, where, body string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Fatalf("%s reveals %q of another tenant", where, s)
			}
		}
	}

	t.Run("pages and API lists", func(t *testing.T) {
		for _, c := range []struct {
			who  *client
			path string
		}{
			{admin, "/admin/users"}, {admin, "/api/v1/users"}, {admin, "/api/v1/me"}, {admin, "/"},
			{auditor, "/audit"}, {auditor, "/api/v1/audit"}, {auditor, "/audit?action=login.succeeded"},
		} {
			status, body := c.who.get(c.path)
			if status != http.StatusOK {
				t.Fatalf("GET %s: %d", c.path, status)
			}
			noLeak(t, c.path, body)
		}
		// The lists do show tenant A's own data, so the check above means something.
		if _, body := admin.get("/admin/users"); !strings.Contains(body, aAuditor.Email) {
			t.Fatal("user list does not show the tenant's own users")
		}
		var out struct{ Events []map[string]any }
		_, body := auditor.get("/api/v1/audit?limit=200")
		if err := json.Unmarshal([]byte(body), &out); err != nil || len(out.Events) == 0 {
			t.Fatalf("audit API: %v, %d events", err, len(out.Events))
		}
	})

	t.Run("another tenant's user looks like no user", func(t *testing.T) {
		_, missing := admin.get("/admin/users/" + tma.NewID())
		for _, path := range []string{"/admin/users/" + bHR.ID, "/api/v1/users/" + bHR.ID} {
			status, body := admin.get(path)
			if status != http.StatusNotFound {
				t.Fatalf("GET %s: %d, want 404", path, status)
			}
			noLeak(t, path, body)
			if !strings.HasPrefix(path, "/api") && stripReference(body) != stripReference(missing) {
				t.Fatalf("the page for another tenant's user differs from the page for a missing user")
			}
		}
	})

	t.Run("another tenant's user cannot be changed", func(t *testing.T) {
		for _, c := range []struct {
			path string
			form url.Values
		}{
			{"/admin/users/" + bHR.ID + "/roles", url.Values{"role_admin": {"on"}}},
			{"/admin/users/" + bHR.ID + "/password", url.Values{"password": {"a brand new password"}}},
			{"/admin/users/" + bHR.ID + "/sessions/revoke", nil},
			{"/admin/users/" + bHR.ID + "/status", url.Values{"disabled": {"true"}}},
		} {
			if status, body := admin.post(c.path, c.form); status != http.StatusNotFound {
				t.Fatalf("POST %s: %d, want 404: %.200q", c.path, status, body)
			}
		}
		if status, _ := admin.sendJSON(http.MethodPut, "/api/v1/users/"+bHR.ID+"/roles", `{"roles":["admin"]}`); status != http.StatusNotFound {
			t.Fatalf("PUT roles (JSON) of another tenant's user: %d, want 404", status)
		}
		// B's user is untouched: same roles, still enabled, session alive.
		u, err := postgres.NewUserService(srv.DB).FindUserByID(ctx, tb.ID, bHR.ID)
		if err != nil || u.Disabled || len(u.Roles) != 1 || u.Roles[0] != tma.RoleHR {
			t.Fatalf("tenant B's user was changed: %+v %v", u, err)
		}
		if status, _ := bClient.get("/account"); status != http.StatusOK {
			t.Fatal("tenant B's session was revoked by tenant A")
		}
	})

	t.Run("credentials are per tenant", func(t *testing.T) {
		c := srv.client(t)
		c.get("/login")
		status, _ := c.post("/login", url.Values{"tenant": {"beta"}, "email": {aAdmin.Email}, "password": {testPassword}})
		if status != http.StatusUnauthorized {
			t.Fatalf("tenant A's user signed in to tenant B: %d", status)
		}
	})

	t.Run("tenant B's audit log has nothing of tenant A", func(t *testing.T) {
		events, err := postgres.NewAuditService(srv.DB).FindAuditEvents(ctx, tb.ID, tma.AuditFilter{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if strings.Contains(e.ActorLabel, "alpha.example") && e.Action != tma.AuditLoginFailed {
				t.Fatalf("tenant A's action recorded in tenant B: %+v", e)
			}
		}
	})
}

// stripReference removes the per-request reference from an error page.
func stripReference(body string) string {
	if i := strings.Index(body, "Reference:"); i >= 0 {
		if j := strings.Index(body[i:], "</p>"); j >= 0 {
			return body[:i] + body[i+j:]
		}
	}
	return body
}
