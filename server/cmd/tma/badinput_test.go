package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// TestBadInput: wrong passwords, forged sessions, missing or replayed CSRF
// tokens, oversized bodies and unknown tenants get a clear 4xx, never a 500
// or a stack trace, and leave an audit event where it matters.
func TestBadInput(t *testing.T) {
	srv := startServer(t, map[string]string{"TMA_BODY_LIMIT": "8192"})
	tn, users := srv.mustTenant(t, "acme", tma.RoleAdmin)
	admin := users[0]

	noTrace := func(t *testing.T, body string) {
		t.Helper()
		for _, s := range []string{"goroutine ", ".go:", "panic", "runtime."} {
			if strings.Contains(body, s) {
				t.Fatalf("response shows internals (%q): %.300q", s, body)
			}
		}
	}

	t.Run("wrong password and unknown tenant", func(t *testing.T) {
		c := srv.client(t)
		c.get("/login")
		for _, tenant := range []string{"acme", "no-such-tenant"} {
			status, body := c.post("/login", url.Values{"tenant": {tenant}, "email": {admin.Email}, "password": {"wrong password!!"}})
			if status != http.StatusUnauthorized || !strings.Contains(body, "Unknown organisation, e-mail address or password.") {
				t.Fatalf("tenant %s: %d %.200q", tenant, status, body)
			}
			noTrace(t, body)
		}
		status, body := c.post("/login", url.Values{"tenant": {"acme"}})
		if status != http.StatusBadRequest {
			t.Fatalf("empty form: %d %.200q", status, body)
		}
	})

	t.Run("forged session cookie", func(t *testing.T) {
		c := srv.client(t)
		u, _ := url.Parse(srv.URL)
		c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "tma_session", Value: strings.Repeat("A", 43)}})
		status, _, h := c.do(http.MethodGet, "/admin/users", nil, nil)
		if status != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
			t.Fatalf("forged session: %d %s", status, h.Get("Location"))
		}
		status, body, _ := c.do(http.MethodGet, "/api/v1/me", nil, nil)
		if status != http.StatusUnauthorized || !strings.Contains(body, `"code":"unauthorized"`) {
			t.Fatalf("forged session on the API: %d %s", status, body)
		}
	})

	t.Run("missing and replayed CSRF tokens", func(t *testing.T) {
		c := srv.client(t)
		c.login("acme", admin.Email)
		old := c.csrf
		form := url.Values{"name": {"Mallory"}, "email": {"mallory@acme.example"}, "password": {"long enough password"}}
		status, body, _ := c.do(http.MethodPost, "/admin/users", form, nil)
		if status != http.StatusForbidden || !strings.Contains(body, "The form has expired") {
			t.Fatalf("missing token: %d %.200q", status, body)
		}
		// Sign out and in again: the token of the old session is dead.
		c.post("/logout", nil)
		c.login("acme", admin.Email)
		if c.csrf == old {
			t.Fatal("CSRF token did not change with the session")
		}
		form.Set("_csrf", old)
		status, body, _ = c.do(http.MethodPost, "/admin/users", form, nil)
		if status != http.StatusForbidden {
			t.Fatalf("replayed token: %d %.200q", status, body)
		}
		noTrace(t, body)
		users, _ := postgres.NewUserService(srv.DB).FindUsers(context.Background(), tn.ID)
		if len(users) != 1 {
			t.Fatal("a request with a bad CSRF token changed data")
		}
		events, _ := postgres.NewAuditService(srv.DB).FindAuditEvents(context.Background(), tn.ID, tma.AuditFilter{Action: tma.AuditCSRFRejected})
		if len(events) != 2 {
			t.Fatalf("want 2 csrf.rejected audit events, got %d", len(events))
		}
	})

	t.Run("oversized body", func(t *testing.T) {
		c := srv.client(t)
		c.login("acme", admin.Email)
		form := url.Values{"_csrf": {c.csrf}, "name": {strings.Repeat("x", 20000)}}
		status, body, _ := c.do(http.MethodPost, "/admin/users", form, nil)
		if status != http.StatusRequestEntityTooLarge {
			t.Fatalf("oversized body: %d %.200q", status, body)
		}
		noTrace(t, body)
	})

	t.Run("bad JSON and unknown role", func(t *testing.T) {
		c := srv.client(t)
		c.login("acme", admin.Email)
		for _, body := range []string{`{"email": `, `{"email":"x@acme.example","display_name":"X","password":"long enough password","roles":["emperor"]}`} {
			if status, _ := c.sendJSON(http.MethodPost, "/api/v1/users", body); status != http.StatusBadRequest {
				t.Fatalf("%s: %d, want 400", body, status)
			}
		}
	})

	t.Run("unknown page", func(t *testing.T) {
		c := srv.client(t)
		status, body := c.get("/no/such/page")
		if status != http.StatusNotFound {
			t.Fatalf("%d", status)
		}
		noTrace(t, body)
	})
}
