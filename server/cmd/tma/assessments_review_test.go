package main

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// instrumentCountRe reads the number of assessments of workplace-check
// version 1 from the instruments page.
var instrumentCountRe = regexp.MustCompile(`(?s)href="/instruments/workplace-check/1">.*?<td class="num"[^>]*>(\d+)</td>`)

// TestInstrumentCountsOnlyVisibleCases: the instruments page counts the
// assessments pinned to each version only in the cases the viewer may
// see. A threat manager who is no member of the case, and one excluded
// from it, learn nothing about its assessments (not even that one was
// started); the lead sees it counted.
func TestInstrumentCountsOnlyVisibleCases(t *testing.T) {
	w := newAssessmentWorld(t)
	importInstrument(t, w.lc, checkInstrument(1))
	startAssessment(t, w.lc, w.kase.ID, "workplace-check:1")

	users := postgres.NewUserService(w.srv.DB)
	outsider, err := users.CreateUser(systemCtx(context.Background(), w.tenant.ID), w.tenant.ID, tma.NewUser{
		Email: "outsider@acme.example", DisplayName: "Out Sider", Password: testPassword, Roles: []tma.Role{tma.RoleThreatManager}})
	if err != nil {
		t.Fatal(err)
	}
	walled, err := users.CreateUser(systemCtx(context.Background(), w.tenant.ID), w.tenant.ID, tma.NewUser{
		Email: "walled@acme.example", DisplayName: "Wal Led", Password: testPassword, Roles: []tma.Role{tma.RoleLegal}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.srv.DB.Pool.Exec(context.Background(), `INSERT INTO case_members (tenant_id, case_id, user_id, role) VALUES ($1, $2, $3, 'expert')`,
		w.tenant.ID, w.kase.ID, walled.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.srv.DB.Pool.Exec(context.Background(), `INSERT INTO case_exclusions (tenant_id, case_id, user_id) VALUES ($1, $2, $3)`,
		w.tenant.ID, w.kase.ID, walled.ID); err != nil {
		t.Fatal(err)
	}

	count := func(c *client) string {
		t.Helper()
		status, body := c.get("/instruments")
		m := instrumentCountRe.FindStringSubmatch(body)
		if status != http.StatusOK || m == nil {
			t.Fatalf("instruments page: status %d, no count: %.1500s", status, body)
		}
		return m[1]
	}
	if got := count(w.lc); got != "1" {
		t.Errorf("the lead sees %s assessments of the version, want 1", got)
	}
	for _, u := range []*tma.User{outsider, walled} {
		c := w.srv.client(t)
		c.login("acme", u.Email)
		if got := count(c); got != "0" {
			t.Errorf("%s, who may not see the case, sees %s assessments of the version, want 0", u.Email, got)
		}
	}
}

// TestDashboardRiskCountsBeyondTheCasesListLimit: the dashboard counts
// every open case of the user, not only the 500 most recently changed
// ones that the cases list shows. A lead with an imminent case that has
// not changed for a while and 500 newer cases still sees it counted.
func TestDashboardRiskCountsBeyondTheCasesListLimit(t *testing.T) {
	srv := startServer(t, nil)
	tn, users := srv.mustTenant(t, "acme", tma.RoleThreatManager)
	lead := users[0]
	ctx := tma.NewContextWithActor(context.Background(), tma.Actor{UserID: lead.ID, TenantID: tn.ID, Label: lead.Email})
	cases := postgres.NewCaseService(srv.DB)
	if _, err := cases.CreateCase(ctx, tn.ID, tma.NewCase{Title: "The old imminent one", Risk: tma.RiskImminent}); err != nil {
		t.Fatal(err)
	}
	const newer = 500
	for i := range newer {
		if _, err := cases.CreateCase(ctx, tn.ID, tma.NewCase{Title: "Newer case " + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c := srv.client(t)
	c.login("acme", lead.Email)
	counts := dashboardRiskCounts(t, c)
	if got := counts[string(tma.RiskImminent)][0]; got != "Cases: 1" {
		t.Errorf("imminent: %q, want %q", got, "Cases: 1")
	}
	if got := counts[string(tma.RiskUnrated)][0]; got != "Cases: "+strconv.Itoa(newer) {
		t.Errorf("unrated: %q, want %q", got, "Cases: "+strconv.Itoa(newer))
	}
}
