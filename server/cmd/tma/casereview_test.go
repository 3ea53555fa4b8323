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

func review3User(t *testing.T, srv *testServer, tn *tma.Tenant, name string, r tma.Role) *tma.User {
	u, err := postgres.NewUserService(srv.DB).CreateUser(systemCtx(context.Background(), tn.ID), tn.ID, tma.NewUser{
		Email: name + "@acme.example", DisplayName: "User " + name, Password: testPassword, Roles: []tma.Role{r}})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// A report opened as a case stays readable at /intake/:id to every threat
// manager, including one walled off the case, with all later messages.
func TestReview3IntakeAfterOpenLeaks(t *testing.T) {
	srv := startServer(t, nil)
	ctx := context.Background()
	tn, users := srv.mustTenant(t, "acme", tma.RoleEmployee, tma.RoleThreatManager)
	reporter, lead := users[0], users[1]
	walled := review3User(t, srv, tn, "tm2", tma.RoleThreatManager)

	rc := srv.client(t)
	rc.login("acme", reporter.Email)
	rc.get("/reports/new")
	if status, body := rc.post("/reports", url.Values{"what": {"SECRET-REPORT-TEXT"}, "urgency": {"high"}}); status != http.StatusSeeOther {
		t.Fatalf("file: %d %.200q", status, body)
	}
	var reportID string
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT id::text FROM reports WHERE tenant_id = $1`, tn.ID).Scan(&reportID); err != nil {
		t.Fatal(err)
	}
	lc := srv.client(t)
	lc.login("acme", lead.Email)
	lc.get("/intake/" + reportID)
	status, _, h := lc.do(http.MethodPost, "/intake/"+reportID+"/open", url.Values{"_csrf": {lc.csrf}, "title": {"T"}, "risk": {"high"}}, nil)
	if status != http.StatusSeeOther {
		t.Fatalf("open: %d", status)
	}
	caseID := strings.TrimPrefix(h.Get("Location"), "/cases/")
	// Ethical wall on the second threat manager.
	if status, _ := lc.post("/cases/"+caseID+"/exclusions", url.Values{"email": {walled.Email}}); status != http.StatusOK {
		t.Fatalf("exclude: %d", status)
	}
	// The reporter adds more after the case is open.
	rc.get("/reports/" + reportID)
	rc.post("/reports/"+reportID+"/messages", url.Values{"text": {"SECRET-FOLLOWUP"}})

	wc := srv.client(t)
	wc.login("acme", walled.Email)
	if status, _ := wc.get("/cases/" + caseID); status != http.StatusNotFound {
		t.Fatalf("walled TM sees the case: %d", status)
	}
	status, body := wc.get("/intake/" + reportID)
	if status == http.StatusOK && strings.Contains(body, "SECRET-REPORT-TEXT") {
		t.Errorf("LEAK: walled-off TM reads the opened case's report at /intake/%s (followup shown: %v)", reportID, strings.Contains(body, "SECRET-FOLLOWUP"))
	}
	if status, _ := wc.post("/intake/"+reportID+"/messages", url.Values{"text": {"hello from outside the wall"}}); status == http.StatusOK {
		t.Errorf("LEAK: walled-off TM writes to the reporter of a case they are excluded from")
	}
}

// An expert (contribute only, not manage) walls a co-lead off the case by
// naming them as person of concern: an exclusion without manage rights.
func TestReview3ExpertExcludesLead(t *testing.T) {
	srv := startServer(t, nil)
	tn, users := srv.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleLegal)
	lead1, expert := users[0], users[1]
	lead2 := review3User(t, srv, tn, "tm2", tma.RoleThreatManager)
	lc := srv.client(t)
	lc.login("acme", lead1.Email)
	lc.get("/cases/new")
	status, _, h := lc.do(http.MethodPost, "/cases", url.Values{"_csrf": {lc.csrf}, "title": {"C"}, "risk": {"low"}}, nil)
	if status != http.StatusSeeOther {
		t.Fatalf("create: %d", status)
	}
	caseID := strings.TrimPrefix(h.Get("Location"), "/cases/")
	lc.get("/cases/" + caseID)
	lc.post("/cases/"+caseID+"/members", url.Values{"email": {lead2.Email}, "role": {"lead"}})
	lc.post("/cases/"+caseID+"/members", url.Values{"email": {expert.Email}, "role": {"expert"}})

	ec := srv.client(t)
	ec.login("acme", expert.Email)
	ec.get("/cases/" + caseID)
	if status, _ := ec.post("/cases/"+caseID+"/exclusions", url.Values{"email": {lead1.Email}}); status != http.StatusNotFound && status != http.StatusForbidden {
		t.Fatalf("expert exclusions route: %d", status)
	}
	status, body := ec.post("/cases/"+caseID+"/persons", url.Values{"kind": {"concern"}, "name": {"x"}, "email": {lead1.Email}})
	t.Logf("expert names lead1 as concern: %d", status)
	_ = body
	if status, _ := lc.get("/cases/" + caseID); status == http.StatusNotFound {
		t.Errorf("PRIV: an expert walled lead1 off the case via POST /persons (exclusion needs manage)")
	}
}
