package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// publicRoutes is the complete list of routes reachable without a session.
// Adding a public route means adding it here, in review.
var publicRoutes = map[string]bool{
	"GET /healthz":       true,
	"HEAD /healthz":      true,
	"GET /readyz":        true,
	"HEAD /readyz":       true,
	"GET /assets/:name":  true,
	"HEAD /assets/:name": true,
	"GET /login":         true,
	"HEAD /login":        true,
	"POST /login":        true,
	// The anonymous report page and mailbox of a tenant (issue 8): reporters
	// have no account. Rate-limited, no cookie, no client address stored.
	"GET /r/:tenant":                true,
	"HEAD /r/:tenant":               true,
	"POST /r/:tenant":               true,
	"GET /r/:tenant/mailbox":        true,
	"HEAD /r/:tenant/mailbox":       true,
	"POST /r/:tenant/mailbox":       true,
	"POST /r/:tenant/mailbox/reply": true,
}

func TestEveryRouteIsAuthorized(t *testing.T) {
	srv := startServer(t, nil)
	routes := srv.Web.App().GetRoutes(true) // handlers, not middleware
	if len(routes) < 20 {
		t.Fatalf("only %d routes found; is the route walk broken?", len(routes))
	}
	// A visitor without a session but with a valid pre-session CSRF token,
	// so that unsafe requests reach authorization instead of stopping at
	// the CSRF check.
	anon := srv.client(t)
	anon.get("/login")
	if anon.csrf == "" {
		t.Fatal("no CSRF token on the login page")
	}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		t.Run(key, func(t *testing.T) {
			rule, ok := srv.Web.Rule(r.Method, r.Path)
			if !ok {
				t.Fatalf("route %s has no authorization rule", key)
			}
			if rule.Public != publicRoutes[key] {
				t.Fatalf("route %s: public=%v, but the public list says %v", key, rule.Public, publicRoutes[key])
			}
			if rule.Public {
				return
			}
			path := strings.NewReplacer(":id", tma.NewID(), ":name", "x").Replace(r.Path)
			for _, withCSRF := range []bool{false, true} {
				header := map[string]string{"Accept": "text/html"}
				var form url.Values
				if r.Method != http.MethodGet && r.Method != http.MethodHead {
					form = url.Values{}
					if withCSRF {
						header["X-CSRF-Token"] = anon.csrf
					}
				}
				status, body, h := anon.do(r.Method, path, form, header)
				switch {
				case status == http.StatusSeeOther && strings.HasPrefix(h.Get("Location"), "/login"):
				case status == http.StatusUnauthorized, status == http.StatusForbidden:
				default:
					t.Fatalf("unauthenticated %s %s (csrf %v): status %d, want 401, 403 or a redirect to /login; body %.200q",
						r.Method, path, withCSRF, status, body)
				}
				if withCSRF && status == http.StatusForbidden {
					t.Fatalf("with a valid CSRF token the refusal must come from authorization (401/303), got 403")
				}
			}
		})
	}
}

func TestRolesGateTheRoutes(t *testing.T) {
	srv := startServer(t, nil)
	_, users := srv.mustTenant(t, "acme", tma.RoleLegal, tma.RoleAdmin, tma.RoleAuditor)
	legal, admin, auditor := users[0], users[1], users[2]
	tests := []struct {
		user *tma.User
		path string
		want int
	}{
		{legal, "/", http.StatusOK},
		{legal, "/admin/users", http.StatusForbidden},
		{legal, "/audit", http.StatusForbidden},
		{legal, "/api/v1/users", http.StatusForbidden},
		{admin, "/admin/users", http.StatusOK},
		{admin, "/admin/settings", http.StatusOK},
		{admin, "/audit", http.StatusForbidden},
		{admin, "/api/v1/audit", http.StatusForbidden},
		{auditor, "/audit", http.StatusOK},
		{auditor, "/api/v1/audit", http.StatusOK},
		{auditor, "/admin/users", http.StatusForbidden},
	}
	clients := map[string]*client{}
	for _, tc := range tests {
		c := clients[tc.user.ID]
		if c == nil {
			c = srv.client(t)
			c.login("acme", tc.user.Email)
			clients[tc.user.ID] = c
		}
		if status, body := c.get(tc.path); status != tc.want {
			t.Errorf("%s GET %s: status %d, want %d: %.200q", tc.user.Email, tc.path, status, tc.want, body)
		}
	}
}
