package main

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

var riskCountRe = regexp.MustCompile(`<dd data-risk="([a-z]+)">(.*?)</dd>`)

// dashboardRiskCounts reads the risk counts off the cases page: level →
// the count's text and its link ("" without one). nil if the user may not
// open the cases page, or it shows no counts.
func dashboardRiskCounts(t *testing.T, c *client) map[string][2]string {
	t.Helper()
	if status, body := c.get("/"); status != http.StatusOK || strings.Contains(body, "Coming soon") {
		t.Errorf("dashboard: status %d, or it still says a step is coming soon", status)
	}
	status, body := c.get("/cases")
	if status == http.StatusForbidden {
		return nil
	}
	if status != http.StatusOK {
		t.Fatalf("cases page: status %d", status)
	}
	var counts map[string][2]string
	for _, m := range riskCountRe.FindAllStringSubmatch(body, -1) {
		if counts == nil {
			counts = map[string][2]string{}
		}
		text, href := m[2], ""
		if a := regexp.MustCompile(`^<a href="([^"]+)">(.*)</a>$`).FindStringSubmatch(text); a != nil {
			href, text = html.UnescapeString(a[1]), a[2]
		}
		counts[m[1]] = [2]string{text, href}
	}
	return counts
}

// TestDashboardRiskCountsOnlyVisibleCases: the cases page (the case
// dashboard) counts a user's
// open cases by risk level, and only the cases they may open: not a case
// they are excluded from, not one whose membership expired, not one they
// are no member of, not a closed one. Each count links to the cases list
// filtered alike, which lists exactly those cases. An employee and an
// admin (no cases:read) see no counts. Expectations written by hand.
func TestDashboardRiskCountsOnlyVisibleCases(t *testing.T) {
	srv := startServer(t, nil)
	tn, users := srv.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleHR, tma.RoleEmployee, tma.RoleAdmin)
	lead, hr, employee, admin := users[0], users[1], users[2], users[3]
	ctx := context.Background()
	leadCtx := tma.NewContextWithActor(ctx, tma.Actor{UserID: lead.ID, TenantID: tn.ID, Label: lead.Email})
	cases := postgres.NewCaseService(srv.DB)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := srv.DB.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-time.Hour)
	type kase struct {
		title string
		risk  tma.RiskLevel
		hr    string // hr's access: "member", "excluded", "expired", "" (none)
		close bool
	}
	made := map[string]*tma.Case{}
	for _, k := range []kase{
		{"Visible high", tma.RiskHigh, "member", false},
		{"Excluded high", tma.RiskHigh, "excluded", false},
		{"Foreign high", tma.RiskHigh, "", false},
		{"Expired moderate", tma.RiskModerate, "expired", false},
		{"Visible low", tma.RiskLow, "member", false},
		{"Closed imminent", tma.RiskImminent, "member", true},
		{"Visible unrated", "", "member", false},
	} {
		c, err := cases.CreateCase(leadCtx, tn.ID, tma.NewCase{Title: k.title, Risk: k.risk})
		if err != nil {
			t.Fatal(err)
		}
		made[k.title] = c
		switch k.hr {
		case "member", "excluded":
			exec(`INSERT INTO case_members (tenant_id, case_id, user_id, role) VALUES ($1, $2, $3, 'read_only')`, tn.ID, c.ID, hr.ID)
		case "expired":
			exec(`INSERT INTO case_members (tenant_id, case_id, user_id, role, expires_at) VALUES ($1, $2, $3, 'read_only', $4)`, tn.ID, c.ID, hr.ID, past)
		}
		if k.hr == "excluded" {
			exec(`INSERT INTO case_exclusions (tenant_id, case_id, user_id) VALUES ($1, $2, $3)`, tn.ID, c.ID, hr.ID)
		}
		if k.close {
			exec(`UPDATE cases SET status = 'closed' WHERE tenant_id = $1 AND id = $2`, tn.ID, c.ID)
		}
	}
	// Another tenant's high case, led by its own threat manager.
	other, others := srv.mustTenant(t, "other", tma.RoleThreatManager)
	if _, err := cases.CreateCase(tma.NewContextWithActor(ctx, tma.Actor{UserID: others[0].ID, TenantID: other.ID, Label: others[0].Email}),
		other.ID, tma.NewCase{Title: "Other tenant high", Risk: tma.RiskHigh}); err != nil {
		t.Fatal(err)
	}

	link := func(level string) string { return "/cases?risk=" + level + "&open=1" }
	for _, tc := range []struct {
		name string
		user *tma.User
		want map[string]string // level → count shown
		list map[string][]string
	}{
		{"hr", hr, map[string]string{"unrated": "1", "low": "1", "moderate": "0", "high": "1", "imminent": "0"},
			map[string][]string{"high": {"Visible high"}, "low": {"Visible low"}, "unrated": {"Visible unrated"}}},
		{"lead", lead, map[string]string{"unrated": "1", "low": "1", "moderate": "1", "high": "3", "imminent": "0"},
			map[string][]string{"high": {"Visible high", "Excluded high", "Foreign high"}, "moderate": {"Expired moderate"}}},
		{"employee", employee, nil, nil},
		{"admin", admin, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.client(t)
			c.login("acme", tc.user.Email)
			got := dashboardRiskCounts(t, c)
			if tc.want == nil {
				if got != nil {
					t.Fatalf("the dashboard shows %s risk counts: %v", tc.name, got)
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Errorf("counts for %d levels, want %d: %v", len(got), len(tc.want), got)
			}
			for level, n := range tc.want {
				g := got[level]
				if g[0] != "Cases: "+n {
					t.Errorf("%s: %q, want Cases: %s", level, g[0], n)
				}
				want := link(level)
				if n == "0" {
					want = "" // nothing to list
				}
				if g[1] != want {
					t.Errorf("%s: link %q, want %q for a count of %s", level, g[1], want, n)
				}
			}
			// The link lists exactly the counted cases.
			for level, titles := range tc.list {
				status, body := c.get(link(level))
				if status != http.StatusOK {
					t.Fatalf("%s: status %d", link(level), status)
				}
				for title, k := range made {
					listed := strings.Contains(body, `href="/cases/`+k.ID+`"`)
					want := false
					for _, w := range titles {
						want = want || w == title
					}
					if listed != want {
						t.Errorf("%s lists %q: %v, want %v", link(level), title, listed, want)
					}
				}
				if strings.Contains(body, "Other tenant high") {
					t.Errorf("%s lists the other tenant's case", link(level))
				}
			}
		})
	}
}
