package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/tma"
)

// TestSessionCacheOwnWrites: the process that changes a session, a role or
// a setting drops what it cached when its transaction ends, without waiting
// for a notification (there is no listener here). Cached principals are
// copies: a request that changes its own cannot change another's.
func TestSessionCacheOwnWrites(t *testing.T) {
	e := newEnv(t)
	e.db.EnableSessionCache(100)
	e.db.SetSessionCacheLive(true)
	ctx := context.Background()
	tn, users := e.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleAdmin)
	tm := users[0]
	sys := tma.NewContextWithActor(ctx, tma.Actor{TenantID: tn.ID, Label: "test"})

	auth := func(tok string) *tma.Principal {
		t.Helper()
		p, err := e.auth.Authenticate(ctx, tok)
		if err != nil {
			t.Fatalf("authenticate: %v", err)
		}
		return p
	}
	s := e.login(t, "acme", tm.Email, "192.0.2.1")
	p := auth(s.Token)
	if e.db.CachedSessions() != 1 {
		t.Fatalf("cached sessions = %d, want 1", e.db.CachedSessions())
	}
	p.User.Roles[0], p.User.Locale, p.Tenant.RequireMFA = tma.RoleAdmin, "de", true
	if q := auth(s.Token); q.User.Roles[0] != tma.RoleThreatManager || q.User.Locale != "" || q.Tenant.RequireMFA || q.Token != s.Token {
		t.Fatalf("a change to one request's principal reached the cache: %+v", q.User)
	}

	if err := e.users.SetRoles(sys, tn.ID, tm.ID, []tma.Role{tma.RoleLegal}); err != nil {
		t.Fatal(err)
	}
	if q := auth(s.Token); !q.User.HasRole(tma.RoleLegal) || q.User.HasRole(tma.RoleThreatManager) {
		t.Fatalf("roles after a change: %v", q.User.Roles)
	}
	if err := e.tenants.SetRequireMFA(sys, tn.ID, true); err != nil {
		t.Fatal(err)
	}
	if q := auth(s.Token); !q.Tenant.RequireMFA {
		t.Fatal("the tenant's require_mfa change did not reach a cached session")
	}
	if err := e.users.SetLocale(sys, tn.ID, tm.ID, "de"); err != nil {
		t.Fatal(err)
	}
	if q := auth(s.Token); q.User.Locale != "de" {
		t.Fatal("the locale change did not reach a cached session")
	}
	if err := e.auth.Logout(ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.Authenticate(ctx, s.Token); tma.ErrorCode(err) != tma.EUNAUTHORIZED {
		t.Fatalf("a cached session outlived its logout: %v", err)
	}

	// Timeouts hold for cached sessions too.
	s = e.login(t, "acme", tm.Email, "192.0.2.1")
	auth(s.Token)
	e.clock.Add(sessionPolicy.Absolute + time.Second)
	if _, err := e.auth.Authenticate(ctx, s.Token); tma.ErrorCode(err) != tma.EUNAUTHORIZED {
		t.Fatalf("a cached session outlived the absolute timeout: %v", err)
	}

	// Without a listener the cache is off: a lost listener empties it.
	s = e.login(t, "acme", tm.Email, "192.0.2.1")
	auth(s.Token)
	e.db.SetSessionCacheLive(false)
	if n := e.db.CachedSessions(); n != 0 {
		t.Fatalf("%d sessions cached after the listener was lost", n)
	}
	auth(s.Token)
	if n := e.db.CachedSessions(); n != 0 {
		t.Fatalf("%d sessions cached while there is no listener", n)
	}
}
