package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

func actorCtx(u *tma.User) context.Context {
	return tma.NewContextWithActor(context.Background(), tma.Actor{UserID: u.ID, TenantID: u.TenantID, Label: u.Email})
}

// TestCaseReferencesUnderRace: cases created at once get consecutive,
// distinct references, per tenant.
func TestCaseReferencesUnderRace(t *testing.T) {
	e := newEnv(t)
	cs := postgres.NewCaseService(e.db)
	_, users := e.mustTenant(t, "acme", tma.RoleThreatManager)
	_, others := e.mustTenant(t, "other", tma.RoleThreatManager)
	var wg sync.WaitGroup
	var mu sync.Mutex
	refs := map[string]bool{}
	for range 8 {
		wg.Go(func() {
			c, err := cs.CreateCase(actorCtx(users[0]), users[0].TenantID, tma.NewCase{Title: "Case"})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			refs[c.Reference] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	year := e.clock.Now().UTC().Year()
	for n := 1; n <= 8; n++ {
		if !refs[tma.FormatReference(year, n)] {
			t.Errorf("reference %s missing: %v", tma.FormatReference(year, n), refs)
		}
	}
	c, err := cs.CreateCase(actorCtx(others[0]), others[0].TenantID, tma.NewCase{Title: "Case"})
	if err != nil || c.Reference != tma.FormatReference(year, 1) {
		t.Fatalf("another tenant's first case: %v %v", c, err)
	}
}

// TestCaseMembers: leads, the last-lead rule, exclusions and validation.
func TestCaseMembers(t *testing.T) {
	e := newEnv(t)
	cs := postgres.NewCaseService(e.db)
	tn, users := e.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleLegal, tma.RoleHR)
	lead, legal, hr := users[0], users[1], users[2]
	ctx := actorCtx(lead)
	for _, bad := range []tma.NewCase{{Title: ""}, {Title: strings.Repeat("x", 201)}, {Title: "ok", Risk: "extreme"}, {Title: "ok", Labels: strings.Split("a,b,c,d,e,f,g,h,i,j,k", ",")}} {
		_, err := cs.CreateCase(ctx, tn.ID, bad)
		wantCode(t, err, tma.EINVALID)
	}
	c, err := cs.CreateCase(ctx, tn.ID, tma.NewCase{Title: " Threats ", Labels: []string{"b", " a", "B", ""}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Title != "Threats" || c.Status != tma.StatusNew || c.Risk != tma.RiskUnrated || strings.Join(c.Labels, ",") != "b,a" {
		t.Fatalf("created %+v", c)
	}
	a, err := cs.Access(ctx, tn.ID, lead.ID, c.ID)
	if err != nil || a.Role != tma.CaseLead || a.Excluded {
		t.Fatalf("the creator's access: %+v %v", a, err)
	}
	wantCode(t, cs.RemoveMember(ctx, tn.ID, c.ID, lead.ID), tma.ECONFLICT)
	wantCode(t, cs.ChangeMember(ctx, tn.ID, c.ID, tma.NewMember{UserID: lead.ID, Role: tma.CaseExpert}), tma.ECONFLICT)
	wantCode(t, cs.AddMember(ctx, tn.ID, c.ID, tma.NewMember{Email: "nobody@acme.example", Role: tma.CaseExpert}), tma.EINVALID)
	wantCode(t, cs.AddMember(ctx, tn.ID, c.ID, tma.NewMember{Email: legal.Email, Role: "owner"}), tma.EINVALID)
	wantCode(t, cs.AddMember(ctx, tn.ID, c.ID, tma.NewMember{Email: legal.Email, Role: tma.CaseExpert, ExpiresAt: e.clock.Now().Add(-time.Hour)}), tma.EINVALID)
	if err := cs.AddMember(ctx, tn.ID, c.ID, tma.NewMember{Email: legal.Email, Role: tma.CaseExpert}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, cs.AddMember(ctx, tn.ID, c.ID, tma.NewMember{Email: legal.Email, Role: tma.CaseExpert}), tma.ECONFLICT)
	_, err = cs.SetState(ctx, tn.ID, c.ID, "archived", tma.RiskLow)
	wantCode(t, err, tma.EINVALID)
	if pending, err := cs.SetState(ctx, tn.ID, c.ID, tma.StatusAssessing, tma.RiskHigh); err != nil || pending != nil {
		t.Fatal(pending, err)
	}

	// An exclusion ends the membership, and the person cannot be added back.
	if err := cs.Exclude(ctx, tn.ID, c.ID, legal.Email); err != nil {
		t.Fatal(err)
	}
	wantCode(t, cs.Exclude(ctx, tn.ID, c.ID, lead.Email), tma.ECONFLICT)
	if a, _ := cs.Access(ctx, tn.ID, legal.ID, c.ID); a.Role != "" || !a.Excluded || len(a.Roles(time.Now())) != 1 {
		t.Fatalf("excluded access: %+v", a)
	}
	wantCode(t, cs.AddMember(ctx, tn.ID, c.ID, tma.NewMember{Email: legal.Email, Role: tma.CaseExpert}), tma.ECONFLICT)
	mine, err := cs.MyCases(ctx, tn.ID, legal.ID)
	if err != nil || len(mine) != 0 {
		t.Fatalf("an excluded user's list: %v %v", mine, err)
	}

	// Expired memberships leave the list and grant nothing.
	if err := cs.AddMember(ctx, tn.ID, c.ID, tma.NewMember{Email: hr.Email, Role: tma.CaseReadOnly, ExpiresAt: e.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if mine, _ := cs.MyCases(ctx, tn.ID, hr.ID); len(mine) != 1 || mine[0].Status != tma.StatusAssessing {
		t.Fatalf("hr's list: %v", mine)
	}
	e.clock.Add(2 * time.Hour)
	if mine, _ := cs.MyCases(ctx, tn.ID, hr.ID); len(mine) != 0 {
		t.Fatalf("an expired membership is listed: %v", mine)
	}
	a, _ = cs.Access(ctx, tn.ID, hr.ID, c.ID)
	if len(a.Roles(e.clock.Now())) != 0 {
		t.Fatalf("an expired membership grants %v", a.Roles(e.clock.Now()))
	}

	// A missing case and a case of another tenant grant nothing and fail alike.
	other, _ := e.mustTenant(t, "other", tma.RoleThreatManager)
	for _, id := range []string{tma.NewID(), "not-an-id"} {
		if a, err := cs.Access(ctx, tn.ID, lead.ID, id); err != nil || a != (tma.CaseAccess{}) {
			t.Fatalf("access to %s: %+v %v", id, a, err)
		}
	}
	if a, err := cs.Access(ctx, other.ID, lead.ID, c.ID); err != nil || a != (tma.CaseAccess{}) {
		t.Fatalf("access across tenants: %+v %v", a, err)
	}
	_, err = cs.FindCase(ctx, other.ID, c.ID)
	wantCode(t, err, tma.ENOTFOUND)

	events, err := e.audit.FindAuditEvents(context.Background(), tn.ID, tma.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, ev := range events {
		got[ev.Action]++
	}
	for action, n := range map[string]int{tma.AuditCaseCreated: 1, tma.AuditCaseMemberAdded: 2, tma.AuditCaseStateChanged: 1, tma.AuditCaseUserExcluded: 1} {
		if got[action] != n {
			t.Errorf("%d %s events, want %d", got[action], action, n)
		}
	}
}

// TestCaseAccessReachesEveryProcess: a membership change written by another
// process (or psql) reaches a process's cached case access through the
// trigger and the listener.
func TestCaseAccessReachesEveryProcess(t *testing.T) {
	e := newEnv(t)
	e.db.EnableSessionCache(100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.db.ListenSessionChanges(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	cs := postgres.NewCaseService(e.db)
	tn, users := e.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleLegal)
	lead, legal := users[0], users[1]
	c, err := cs.CreateCase(actorCtx(lead), tn.ID, tma.NewCase{Title: "Case"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.AddMember(actorCtx(lead), tn.ID, c.ID, tma.NewMember{Email: legal.Email, Role: tma.CaseExpert}); err != nil {
		t.Fatal(err)
	}
	// Wait until the listener listens and the access is served from the cache.
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, err := cs.Access(ctx, tn.ID, legal.ID, c.ID)
		if err != nil || a.Role != tma.CaseExpert {
			t.Fatalf("access: %+v %v", a, err)
		}
		if e.db.CachedCaseAccesses() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the case access is never cached")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Another process: a plain connection, writing as psql would, only the
	// exclusion (the membership row stays: the wall must still win).
	if _, err := openPlain(t, e).Pool.Exec(ctx, `INSERT INTO case_exclusions (tenant_id, case_id, user_id) VALUES ($1, $2, $3)`,
		tn.ID, c.ID, legal.ID); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Second)
	for {
		a, err := cs.Access(ctx, tn.ID, legal.ID, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Excluded && len(a.Roles(time.Now())) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exclusion did not reach the other process: %+v", a)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openPlain opens a second pool on e's database without a session cache:
// another process.
func openPlain(t *testing.T, e *env) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), e.db.Pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	db.Now = e.clock.Now
	return db
}
