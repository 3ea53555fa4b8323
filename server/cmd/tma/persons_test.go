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

// TestCasePersons: the persons involved in a case are added and removed by
// members who may contribute, read by every member, sealed in the database
// (no table holds a name or note in clear, the audit log included), and a
// tenant user linked as person of concern is walled off the case at once,
// even as a threat manager and a former member. A closed case refuses
// changes.
func TestCasePersons(t *testing.T) {
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{
		"lead": tma.RoleThreatManager, "expert": tma.RoleLegal, "read-only": tma.RoleHR,
		"concern": tma.RoleThreatManager, "non-member": tma.RoleThreatManager,
	})
	w.kase = w.createCase(t, w.users["lead"])
	w.member(t, w.users["expert"], tma.CaseExpert, nil)
	w.member(t, w.users["read-only"], tma.CaseReadOnly, nil)
	w.member(t, w.users["concern"], tma.CaseExpert, nil)
	clients := w.signIn(t)
	lead, expert, ro, concern, nonMember := clients["lead"], clients["expert"], clients["read-only"], clients["concern"], clients["non-member"]
	caseURL := "/cases/" + w.kase.ID
	post := func(c *client, path string, form url.Values) (int, string) {
		t.Helper()
		c.get(caseURL)
		return c.post(path, form)
	}
	secrets := []string{"Quokka-Person-4711", "Kormoran-Notiz-0815", "Zebra-Zeuge-42", "Lemur-Aussage-9"}

	// The person of concern still sees the case before being named.
	if status, _ := concern.get(caseURL); status != http.StatusOK {
		t.Fatalf("concern before: status %d", status)
	}
	status, body := post(lead, caseURL+"/persons", url.Values{"kind": {"concern"}, "name": {secrets[0]}, "note": {secrets[1]},
		"email": {w.users["concern"].Email}})
	if status != http.StatusOK || !strings.Contains(body, secrets[0]) {
		t.Fatalf("add person of concern: status %d: %.300q", status, body)
	}
	if status, body := post(expert, caseURL+"/persons", url.Values{"kind": {"witness"}, "name": {secrets[2]}, "note": {secrets[3]}}); status != http.StatusOK {
		t.Fatalf("expert adds witness: status %d: %.300q", status, body)
	}
	// Read-only members see them and cannot change them.
	if status, _ := post(ro, caseURL+"/persons", url.Values{"kind": {"witness"}, "name": {"Nobody"}}); status != http.StatusForbidden {
		t.Errorf("read-only adds: status %d, want 403", status)
	}
	for name, c := range map[string]*client{"lead": lead, "expert": expert, "read-only": ro} {
		_, page := c.get(caseURL)
		for _, s := range secrets {
			if !strings.Contains(page, s) {
				t.Errorf("%s does not see %q", name, s)
			}
		}
	}
	// Bad input: unknown kind, no name, a user who does not exist.
	for _, form := range []url.Values{
		{"kind": {"suspect"}, "name": {"X"}}, {"kind": {"witness"}, "name": {" "}},
		{"kind": {"witness"}, "name": {"X"}, "email": {"nobody@acme.example"}},
	} {
		if status, _ := post(lead, caseURL+"/persons", form); status != http.StatusBadRequest {
			t.Errorf("bad person %v: status %d, want 400", form, status)
		}
	}
	// The linked person of concern is excluded: membership gone, the case
	// answers like one that does not exist, and adding them back is refused.
	ctx := context.Background()
	cases := postgres.NewCaseService(srv.DB)
	a, err := cases.Access(ctx, w.tenant.ID, w.users["concern"].ID, w.kase.ID)
	if err != nil || !a.Excluded || a.Role != "" {
		t.Errorf("concern access after naming: %+v, %v", a, err)
	}
	for _, c := range []*client{concern, nonMember} {
		status, page := c.get(caseURL)
		if status != http.StatusNotFound || strings.Contains(page, secrets[0]) || strings.Contains(page, secrets[2]) {
			t.Errorf("excluded or non-member: status %d", status)
		}
	}
	if status, _ := post(lead, caseURL+"/members", url.Values{"email": {w.users["concern"].Email}, "role": {"lead"}}); status != http.StatusConflict {
		t.Errorf("adding the person of concern back: status %d, want 409", status)
	}
	// Naming oneself as person of concern would lock the lead out: refused.
	if status, _ := post(lead, caseURL+"/persons", url.Values{"kind": {"affected"}, "name": {"Me"}, "email": {w.users["lead"].Email}}); status != http.StatusConflict {
		t.Errorf("lead names self: status %d, want 409", status)
	}

	persons, err := postgres.NewPersonService(srv.DB, nil).Persons(ctx, w.tenant.ID, "not-an-id")
	if err == nil || persons != nil {
		t.Errorf("bad case id: %v, %v", persons, err)
	}
	var witness string
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT id::text FROM case_persons WHERE tenant_id = $1 AND kind = 'witness'`, w.tenant.ID).Scan(&witness); err != nil {
		t.Fatal(err)
	}
	if status, _ := post(ro, caseURL+"/persons/"+witness+"/remove", nil); status != http.StatusForbidden {
		t.Errorf("read-only removes: status %d, want 403", status)
	}
	if status, page := post(expert, caseURL+"/persons/"+witness+"/remove", nil); status != http.StatusOK || strings.Contains(page, secrets[2]) {
		t.Errorf("expert removes witness: status %d", status)
	}
	if status, _ := post(expert, caseURL+"/persons/"+witness+"/remove", nil); status != http.StatusBadRequest {
		t.Errorf("removing again: status %d, want 400", status)
	}
	// Removing the entry does not lift the wall.
	if a, _ := cases.Access(ctx, w.tenant.ID, w.users["concern"].ID, w.kase.ID); !a.Excluded {
		t.Error("exclusion went with a removed entry")
	}

	// A closed case refuses changes.
	var concernID string
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT id::text FROM case_persons WHERE tenant_id = $1 AND kind = 'concern'`, w.tenant.ID).Scan(&concernID); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.DB.Pool.Exec(ctx, `UPDATE cases SET status = 'closed' WHERE id = $1`, w.kase.ID); err != nil {
		t.Fatal(err)
	}
	if status, _ := post(lead, caseURL+"/persons", url.Values{"kind": {"witness"}, "name": {"Late"}}); status != http.StatusConflict {
		t.Errorf("add on a closed case: status %d, want 409", status)
	}
	if status, _ := post(lead, caseURL+"/persons/"+concernID+"/remove", nil); status != http.StatusConflict {
		t.Errorf("remove on a closed case: status %d, want 409", status)
	}

	// Audited, without the name: the scan below covers audit_events.
	var added int
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = $2`, w.tenant.ID, tma.AuditCasePersonAdded).Scan(&added); err != nil || added != 2 {
		t.Errorf("person_added events: %d, %v", added, err)
	}
	assertNotInClear(t, srv, secrets, "public.case_persons", "public.audit_events")
}

// TestFourEyesLastLead: the last lead cannot leave alone; they request a
// hand-over, which only another threat manager who is a member of the case
// can accept. The taker becomes lead and the requester leaves the case.
func TestFourEyesLastLead(t *testing.T) {
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{
		"lead": tma.RoleThreatManager, "tm read-only": tma.RoleThreatManager, "legal": tma.RoleLegal, "non-member": tma.RoleThreatManager,
	})
	w.kase = w.createCase(t, w.users["lead"])
	w.member(t, w.users["tm read-only"], tma.CaseReadOnly, nil)
	w.member(t, w.users["legal"], tma.CaseExpert, nil)
	clients := w.signIn(t)
	lead, taker, legal, nonMember := clients["lead"], clients["tm read-only"], clients["legal"], clients["non-member"]
	caseURL := "/cases/" + w.kase.ID
	post := func(c *client, path string, form url.Values) (int, string) {
		t.Helper()
		c.get(caseURL)
		return c.post(path, form)
	}
	ctx := context.Background()
	cases := postgres.NewCaseService(srv.DB)
	leadID := w.users["lead"].ID

	// Alone, the last lead can neither leave nor step down.
	if status, _ := post(lead, caseURL+"/members/"+leadID+"/remove", nil); status != http.StatusConflict {
		t.Errorf("last lead removes self: status %d, want 409", status)
	}
	if status, _ := post(lead, caseURL+"/members/"+leadID, url.Values{"role": {"expert"}}); status != http.StatusConflict {
		t.Errorf("last lead steps down: status %d, want 409", status)
	}
	// Only a lead may ask for a hand-over.
	if status, _ := post(taker, caseURL+"/handover", nil); status != http.StatusForbidden {
		t.Errorf("read-only member asks: status %d, want 403", status)
	}
	if status, body := post(lead, caseURL+"/handover", nil); status != http.StatusOK {
		t.Fatalf("hand-over request: status %d: %.300q", status, body)
	}
	if status, _ := post(lead, caseURL+"/handover", nil); status != http.StatusConflict {
		t.Errorf("second hand-over request: status %d, want 409", status)
	}
	pending, err := cases.Approvals(ctx, w.tenant.ID, w.kase.ID)
	if err != nil || len(pending) != 1 || pending[0].Kind != tma.ApprovalHandover {
		t.Fatalf("pending: %+v, %v", pending, err)
	}
	accept := caseURL + "/handover/" + pending[0].ID + "/accept"
	actorCtx := func(u *tma.User) context.Context {
		return tma.NewContextWithActor(ctx, tma.Actor{UserID: u.ID, TenantID: w.tenant.ID, Label: u.Email})
	}

	// Nobody approves their own request: not on the page, not through the
	// approve route, not through the service.
	if status, _ := post(lead, accept, nil); status != http.StatusForbidden {
		t.Errorf("requester accepts: status %d, want 403", status)
	}
	if status, _ := post(lead, caseURL+"/approvals/"+pending[0].ID+"/approve", nil); status != http.StatusForbidden {
		t.Errorf("requester approves: status %d, want 403", status)
	}
	if err := cases.AcceptHandover(actorCtx(w.users["lead"]), w.tenant.ID, w.kase.ID, pending[0].ID); tma.ErrorCode(err) != tma.EFORBIDDEN {
		t.Errorf("requester accepts through the service: %v", err)
	}
	// A member who is no threat manager cannot take over: the route says
	// no, and so does the service, should the route ever let them through.
	if status, _ := post(legal, accept, nil); status != http.StatusForbidden {
		t.Errorf("legal accepts: status %d, want 403", status)
	}
	if err := cases.AcceptHandover(actorCtx(w.users["legal"]), w.tenant.ID, w.kase.ID, pending[0].ID); tma.ErrorCode(err) != tma.EFORBIDDEN {
		t.Errorf("legal accepts through the service: %v", err)
	}
	// A threat manager who is not a member sees no case.
	if status, _ := post(nonMember, accept, nil); status != http.StatusNotFound {
		t.Errorf("non-member accepts: status %d, want 404", status)
	}
	if err := cases.AcceptHandover(actorCtx(w.users["non-member"]), w.tenant.ID, w.kase.ID, pending[0].ID); tma.ErrorCode(err) != tma.EFORBIDDEN {
		t.Errorf("non-member accepts through the service: %v", err)
	}
	if a, _ := cases.Access(ctx, w.tenant.ID, leadID, w.kase.ID); a.Role != tma.CaseLead {
		t.Fatalf("the lead changed before approval: %+v", a)
	}

	// A threat manager with any case role takes over.
	if status, body := post(taker, accept, nil); status != http.StatusOK {
		t.Fatalf("taker accepts: status %d: %.300q", status, body)
	}
	if a, _ := cases.Access(ctx, w.tenant.ID, w.users["tm read-only"].ID, w.kase.ID); a.Role != tma.CaseLead {
		t.Errorf("taker's access: %+v", a)
	}
	if a, _ := cases.Access(ctx, w.tenant.ID, leadID, w.kase.ID); a.Role != "" {
		t.Errorf("requester still a member: %+v", a)
	}
	if status, _ := lead.get(caseURL); status != http.StatusNotFound {
		t.Errorf("former lead opens the case: status %d, want 404", status)
	}
	if p, _ := cases.Approvals(ctx, w.tenant.ID, w.kase.ID); len(p) != 0 {
		t.Errorf("still pending: %+v", p)
	}
	for action, want := range map[string]string{tma.AuditApprovalRequested: "handover", tma.AuditApprovalGranted: "handover to user " + w.users["tm read-only"].ID} {
		var detail, actor string
		err := srv.DB.Pool.QueryRow(ctx, `SELECT detail, actor_label FROM audit_events WHERE tenant_id = $1 AND action = $2 AND target_id = $3`,
			w.tenant.ID, action, w.kase.ID).Scan(&detail, &actor)
		if err != nil || !strings.Contains(detail, want) {
			t.Errorf("audit %s: %q by %q, %v", action, detail, actor, err)
		}
	}

	// A closed case refuses a hand-over request.
	if _, err := srv.DB.Pool.Exec(ctx, `UPDATE cases SET status = 'closed' WHERE id = $1`, w.kase.ID); err != nil {
		t.Fatal(err)
	}
	if status, _ := post(taker, caseURL+"/handover", nil); status != http.StatusConflict {
		t.Errorf("hand-over of a closed case: status %d, want 409", status)
	}
}
