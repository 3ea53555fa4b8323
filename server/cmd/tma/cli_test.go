package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

var shownPassword = regexp.MustCompile(`password \(shown once\): (\S+)`)

func TestCLITenantUserAndAuditVerify(t *testing.T) {
	ctx := context.Background()
	e := newCLIEnv(t)
	out := e.mustRun(t, "tenant", "create", "--slug", "acme", "--name", "Acme Corp", "--admin-email", "it@acme.example")
	m := shownPassword.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("tenant create shows no password:\n%s", out)
	}
	auth := postgres.NewAuthService(e.db, tma.SessionPolicy{Idle: time.Hour, Absolute: time.Hour, PendingMFA: time.Hour},
		tma.ThrottlePolicy{AccountFailures: 5, AddressFailures: 5, Window: time.Hour, Lockout: time.Hour}, "TMA", nil)
	if _, err := auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: "it@acme.example", Password: m[1], IP: "192.0.2.1"}); err != nil {
		t.Fatalf("the first admin cannot sign in with the printed password: %v", err)
	}
	if _, err := e.run(t, "tenant", "create", "--slug", "acme", "--name", "Again", "--admin-email", "x@acme.example"); err == nil ||
		!strings.Contains(err.Error(), "exists already") {
		t.Fatalf("duplicate tenant: %v", err)
	}
	out = e.mustRun(t, "user", "create", "--tenant", "acme", "--email", "aud@acme.example", "--name", "Aud", "--roles", "auditor,legal")
	if !shownPassword.MatchString(out) {
		t.Fatalf("user create:\n%s", out)
	}
	if _, err := e.run(t, "user", "create", "--tenant", "nope", "--email", "a@b.example", "--name", "A"); err == nil {
		t.Fatal("user create in an unknown tenant succeeded")
	}

	if out := e.mustRun(t, "audit", "verify"); !strings.Contains(out, ": ok, ") {
		t.Fatalf("audit verify on an intact log:\n%s", out)
	}
	tenant, err := postgres.NewTenantService(e.db).FindTenantBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	events, err := postgres.NewAuditService(e.db).FindAuditEvents(ctx, tenant.ID, tma.AuditFilter{Limit: 10})
	if err != nil || len(events) < 3 {
		t.Fatalf("events: %d %v", len(events), err)
	}
	victim := events[1] // the second newest
	tx, err := e.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tx.Exec(ctx, `SET LOCAL session_replication_role = replica`)
	if _, err := tx.Exec(ctx, `UPDATE audit_events SET actor_label = 'someone else' WHERE id = $1`, victim.ID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	out, err = e.run(t, "audit", "verify", "--tenant", "acme")
	// The CLI names the event by the number the audit page shows (#seq)
	// and the tenant by its slug.
	if err == nil || !strings.Contains(out, "tenant acme: BROKEN at #"+strconv.FormatInt(victim.Seq, 10)+":") {
		t.Fatalf("audit verify after tampering: err %v, output:\n%s", err, out)
	}
}

func TestCLIUsage(t *testing.T) {
	e := newCLIEnv(t)
	if _, err := e.run(t, "frobnicate"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("unknown command: %v", err)
	}
	for _, help := range []string{"--help", "-h", "help"} {
		out, err := e.run(t, help)
		if err != nil || !strings.Contains(out, "Usage: tma <command>") {
			t.Fatalf("tma %s: err %v, output:\n%s", help, err, out)
		}
	}
	out := e.mustRun(t, "config")
	if !strings.Contains(out, "TMA_DATABASE_URL=[redacted]") {
		t.Fatalf("config:\n%s", out)
	}
}
