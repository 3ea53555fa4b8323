package main

import (
	"context"
	"net/http"
	"regexp"
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
