package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

var noteLink = regexp.MustCompile(`/notes/([0-9a-f-]{36})`)

// addNote writes a note through the form and returns its id.
func addNote(t *testing.T, c *client, caseID, title, body string, restricted bool) string {
	t.Helper()
	form := url.Values{"title": {title}, "body": {body}}
	if restricted {
		form.Set("restricted", "on")
	}
	c.get("/cases/" + caseID)
	form.Set("_csrf", c.csrf)
	status, _, h := c.do(http.MethodPost, "/cases/"+caseID+"/notes", form, nil)
	m := noteLink.FindStringSubmatch(h.Get("Location"))
	if status != http.StatusSeeOther || m == nil {
		t.Fatalf("add note: status %d, location %q", status, h.Get("Location"))
	}
	return m[1]
}

// TestRestrictedNote: a note marked as holding Art. 9/10 data is readable
// by the case lead and by legal members only. Every other member sees on the
// case page, the note page (each version), the timeline and "my tasks" that
// a restricted note exists, never its title or text, and cannot edit it.
// There is no JSON API for notes; the API's only case-free routes are
// checked not to carry the text either.
func TestRestrictedNote(t *testing.T) {
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{
		"lead": tma.RoleThreatManager, "legal": tma.RoleLegal, "legal read-only": tma.RoleLegal, "hr": tma.RoleHR,
		"tm expert": tma.RoleThreatManager, "compliance": tma.RoleCompliance,
	})
	w.kase = w.createCase(t, w.users["lead"])
	w.member(t, w.users["legal"], tma.CaseExpert, nil)
	w.member(t, w.users["legal read-only"], tma.CaseReadOnly, nil)
	w.member(t, w.users["hr"], tma.CaseExpert, nil)
	w.member(t, w.users["tm expert"], tma.CaseExpert, nil)
	w.member(t, w.users["compliance"], tma.CaseReadOnly, nil)
	clients := w.signIn(t)
	caseURL := "/cases/" + w.kase.ID

	const title, body = "Psychiatric history Zebrafink", "Diagnosis **F43.1** Quokka-7, treated since 2019"
	const title2, body2 = "Conviction Kormoran", "Previous conviction Lemur-9"
	noteID := addNote(t, clients["lead"], w.kase.ID, title, body, true)
	plainID := addNote(t, clients["hr"], w.kase.ID, "Meeting with HR", "Nothing *special*.", false)
	// An edit keeps the restriction and makes version 2.
	lead := clients["lead"]
	lead.get(caseURL + "/notes/" + noteID)
	if status, b := lead.post(caseURL+"/notes/"+noteID, url.Values{"title": {title2}, "body": {body2}, "restricted": {"on"}, "version": {"1"}}); status != http.StatusSeeOther {
		t.Fatalf("edit as lead: status %d: %.300q", status, b)
	}
	secrets := []string{title, "Quokka-7", title2, "Lemur-9"}

	readers := map[string]bool{"lead": true, "legal": true, "legal read-only": true}
	for persona, c := range clients {
		if persona == "other tenant" {
			continue
		}
		pages := map[string]string{}
		for _, p := range []string{caseURL, caseURL + "/notes/" + noteID, caseURL + "/notes/" + noteID + "?v=1", caseURL + "/timeline", "/tasks", "/api/v1/me"} {
			status, b := c.get(p)
			if status != http.StatusOK {
				t.Fatalf("%s: GET %s: status %d", persona, p, status)
			}
			pages[p] = b
		}
		if readers[persona] {
			if !strings.Contains(pages[caseURL], title2) || !strings.Contains(pages[caseURL+"/notes/"+noteID], "Lemur-9") ||
				!strings.Contains(pages[caseURL+"/notes/"+noteID+"?v=1"], "<strong>F43.1</strong> Quokka-7") {
				t.Errorf("%s cannot read the restricted note", persona)
			}
		} else {
			for p, b := range pages {
				for _, s := range secrets {
					if strings.Contains(b, s) {
						t.Errorf("%s sees %q on %s", persona, s, p)
					}
				}
			}
			if !strings.Contains(pages[caseURL], "Restricted note") || !strings.Contains(pages[caseURL+"/notes/"+noteID], "Only the case lead and legal members can read it") {
				t.Errorf("%s is not told that a restricted note exists", persona)
			}
		}
		// The timeline and every reader's page show both notes.
		if !strings.Contains(pages[caseURL], "/notes/"+plainID) || !strings.Contains(pages[caseURL], "/notes/"+noteID) {
			t.Errorf("%s: the case page does not list both notes", persona)
		}
		if strings.Contains(pages[caseURL+"/timeline"], "Quokka") || strings.Count(pages[caseURL+"/timeline"], "Note ") < 3 {
			t.Errorf("%s: the timeline should list three note events without content", persona)
		}
	}

	// Those who may not read it cannot edit it either, nor learn it by a
	// failed edit; the note is unchanged.
	for _, persona := range []string{"hr", "tm expert"} {
		c := clients[persona]
		c.get(caseURL)
		status, b := c.post(caseURL+"/notes/"+noteID, url.Values{"title": {"x"}, "body": {"y"}, "version": {"2"}})
		if status != http.StatusNotFound || strings.Contains(b, "Lemur") {
			t.Errorf("%s edits the restricted note: status %d, want 404", persona, status)
		}
	}
	notes := postgres.NewNoteService(srv.DB, crypt.NewCaseRecords(srv.CaseKeys))
	ctx := context.Background()
	if n, err := notes.Note(ctx, w.tenant.ID, w.kase.ID, noteID, 0, false); err != nil || n.Version != 2 || !n.Hidden || n.Title != "" || n.Body != "" {
		t.Errorf("the service hands out a restricted note to a reader without the right: %+v, %v", n, err)
	}
	// Another tenant's user gets "not found" for the note.
	if status, b := clients["other tenant"].get(caseURL + "/notes/" + noteID); status != http.StatusNotFound || strings.Contains(b, "Lemur") {
		t.Errorf("other tenant: status %d", status)
	}
}

// TestFourEyesClose: a threat manager cannot close a case alone; a second
// threat manager with manage rights on the case approves, and only then is
// it closed; the requester cannot approve; closed cases are read-only until
// their lead reopens them; lowering the risk needs approval too, and a
// rejection leaves the case as it was. Requests and decisions are audited.
func TestFourEyesClose(t *testing.T) {
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{"lead": tma.RoleThreatManager, "second lead": tma.RoleThreatManager, "tm expert": tma.RoleThreatManager})
	w.kase = w.createCase(t, w.users["lead"])
	w.member(t, w.users["second lead"], tma.CaseLead, nil)
	w.member(t, w.users["tm expert"], tma.CaseExpert, nil)
	clients := w.signIn(t)
	lead, second, expert := clients["lead"], clients["second lead"], clients["tm expert"]
	caseURL := "/cases/" + w.kase.ID
	cases := postgres.NewCaseService(srv.DB)
	ctx := context.Background()
	state := func() (tma.CaseStatus, tma.RiskLevel) {
		t.Helper()
		c, err := cases.FindCase(ctx, w.tenant.ID, w.kase.ID)
		if err != nil {
			t.Fatal(err)
		}
		return c.Status, c.Risk
	}
	post := func(c *client, path string, form url.Values) (int, string) {
		t.Helper()
		c.get(caseURL)
		return c.post(path, form)
	}

	// Raising the risk needs nobody else.
	if status, _ := post(lead, caseURL+"/state", url.Values{"status": {"defusing"}, "risk": {"high"}}); status != http.StatusOK {
		t.Fatalf("raise risk: status %d", status)
	}
	if s, r := state(); s != tma.StatusDefusing || r != tma.RiskHigh {
		t.Fatalf("after raising: %s %s", s, r)
	}

	// Closing alone only files a request.
	status, b := post(lead, caseURL+"/state", url.Values{"status": {"closed"}, "risk": {"high"}})
	if status != http.StatusOK || !strings.Contains(b, "needs a second threat manager") {
		t.Fatalf("close request: status %d: %.300q", status, b)
	}
	if s, _ := state(); s != tma.StatusClosed {
		// expected: still open
	} else {
		t.Fatal("one threat manager closed the case alone")
	}
	pending, err := cases.Approvals(ctx, w.tenant.ID, w.kase.ID)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending requests: %v, %v", pending, err)
	}
	approve := caseURL + "/approvals/" + pending[0].ID + "/approve"
	// A second request waits for the first.
	if status, _ := post(lead, caseURL+"/state", url.Values{"status": {"closed"}, "risk": {"low"}}); status != http.StatusConflict {
		t.Errorf("second request: status %d, want 409", status)
	}
	// The requester cannot approve, through the page or the service.
	if status, _ := post(lead, approve, nil); status != http.StatusForbidden {
		t.Errorf("requester approves: status %d, want 403", status)
	}
	lctx := tma.NewContextWithActor(ctx, tma.Actor{UserID: w.users["lead"].ID, TenantID: w.tenant.ID, Label: "lead"})
	if err := cases.DecideApproval(lctx, w.tenant.ID, w.kase.ID, pending[0].ID, true); tma.ErrorCode(err) != tma.EFORBIDDEN {
		t.Errorf("requester approves through the service: %v", err)
	}
	// A threat manager without manage rights on the case cannot either.
	if status, _ := post(expert, approve, nil); status != http.StatusForbidden {
		t.Errorf("expert approves: status %d, want 403", status)
	}
	if s, _ := state(); s == tma.StatusClosed {
		t.Fatal("the case was closed without a second threat manager")
	}
	// The second lead approves: now it is closed.
	if status, b := post(second, approve, nil); status != http.StatusOK {
		t.Fatalf("second lead approves: status %d: %.300q", status, b)
	}
	if s, _ := state(); s != tma.StatusClosed {
		t.Fatalf("after approval: status %s, want closed", s)
	}
	if status, _ := post(second, approve, nil); status != http.StatusNotFound {
		t.Errorf("approving twice: status %d, want 404", status)
	}

	// Closed is read-only: no notes, actions or members; reopening is the
	// lead's normal action.
	if status, _ := post(lead, caseURL+"/notes", url.Values{"title": {"t"}, "body": {"b"}}); status != http.StatusConflict {
		t.Errorf("note on a closed case: status %d, want 409", status)
	}
	if status, _ := post(lead, caseURL+"/actions", url.Values{"title": {"t"}, "owner": {w.users["lead"].ID}}); status != http.StatusConflict {
		t.Errorf("action on a closed case: status %d, want 409", status)
	}
	if status, _ := post(lead, caseURL+"/members", url.Values{"email": {w.bystander.Email}, "role": {"expert"}}); status != http.StatusConflict {
		t.Errorf("member added to a closed case: status %d, want 409", status)
	}
	if status, _ := post(lead, caseURL+"/state", url.Values{"status": {"closed"}, "risk": {"imminent"}}); status != http.StatusConflict {
		t.Errorf("risk of a closed case: status %d, want 409", status)
	}
	if status, _ := post(lead, caseURL+"/state", url.Values{"status": {"monitoring"}, "risk": {"high"}}); status != http.StatusOK {
		t.Fatalf("reopen: status %d", status)
	}
	if s, _ := state(); s != tma.StatusMonitoring {
		t.Fatalf("after reopening: %s", s)
	}

	// Lowering the risk needs approval; a rejection keeps it.
	post(lead, caseURL+"/state", url.Values{"status": {"monitoring"}, "risk": {"low"}})
	if _, r := state(); r != tma.RiskHigh {
		t.Fatalf("risk lowered alone to %s", r)
	}
	pending, _ = cases.Approvals(ctx, w.tenant.ID, w.kase.ID)
	if len(pending) != 1 {
		t.Fatalf("pending: %v", pending)
	}
	if status, _ := post(second, caseURL+"/approvals/"+pending[0].ID+"/reject", nil); status != http.StatusOK {
		t.Fatalf("reject: status %d", status)
	}
	if _, r := state(); r != tma.RiskHigh {
		t.Fatalf("rejected request changed the risk to %s", r)
	}

	// Every step is in the audit log, with who did it.
	var got []string
	rows, err := srv.DB.Pool.Query(ctx, `SELECT action, actor_label FROM audit_events WHERE tenant_id = $1 AND target_id = $2 AND action LIKE 'case.%' ORDER BY seq`,
		w.tenant.ID, w.kase.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var a, who string
		err := r.Scan(&a, &who)
		return a + " " + strings.Split(who, "@")[0], err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"case.created lead", "case.state_changed lead", "case.approval_requested lead", "case.approval_granted second-lead",
		"case.state_changed second-lead", "case.state_changed lead", "case.approval_requested lead", "case.approval_rejected second-lead"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit trail:\n got %v\nwant %v", got, want)
	}
}

// TestNoteTextNeverInClear writes notes (two versions, one restricted) and
// an action with an outcome through the pages, then searches every column
// of every table for their text, as TestNoPlaintextDigestInClear does for
// digests: it must be sealed everywhere, the audit log included.
func TestNoteTextNeverInClear(t *testing.T) {
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{"lead": tma.RoleThreatManager})
	w.kase = w.createCase(t, w.users["lead"])
	c := w.signIn(t)["lead"]
	caseURL := "/cases/" + w.kase.ID
	secrets := []string{"Wombat-Titel-4711", "Okapi-Befund-0815", "Narwal-Version-2", "Gnu-Massnahme-42", "Tapir-Ergebnis-99"}
	id := addNote(t, c, w.kase.ID, secrets[0], "Text with "+secrets[1], true)
	c.get(caseURL + "/notes/" + id)
	if status, _ := c.post(caseURL+"/notes/"+id, url.Values{"title": {secrets[0]}, "body": {secrets[2]}, "version": {"1"}}); status != http.StatusSeeOther {
		t.Fatalf("edit: status %d", status)
	}
	c.get(caseURL)
	if status, _ := c.post(caseURL+"/actions", url.Values{"title": {secrets[3]}, "owner": {w.users["lead"].ID}, "due": {"2020-01-01"}}); status != http.StatusOK {
		t.Fatalf("add action: status %d", status)
	}
	ctx := context.Background()
	var actionID string
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT id::text FROM case_actions WHERE tenant_id = $1`, w.tenant.ID).Scan(&actionID); err != nil {
		t.Fatal(err)
	}
	if status, _ := c.post(caseURL+"/actions/"+actionID, url.Values{"title": {secrets[3]}, "owner": {w.users["lead"].ID}, "status": {"done"}, "outcome": {secrets[4]}}); status != http.StatusOK {
		t.Fatalf("change action: status %d", status)
	}
	// The lead reads all of it back, and the overdue mark went with "done".
	_, page := c.get(caseURL)
	_, notePage := c.get(caseURL + "/notes/" + id + "?v=1")
	for _, s := range []string{secrets[0], secrets[3], secrets[4]} {
		if !strings.Contains(page, s) {
			t.Errorf("the case page lacks %q", s)
		}
	}
	if !strings.Contains(notePage, secrets[1]) {
		t.Errorf("version 1 lacks its text")
	}

	assertNotInClear(t, srv, secrets, "public.case_notes", "public.case_note_versions", "public.case_actions", "public.audit_events")
}

// assertNotInClear scans every column of every table for each of secrets,
// as text and, in bytea columns, as UTF-8 bytes, and fails for any hit; and
// if the scan did not reach each of want (schema.table).
func assertNotInClear(t *testing.T, srv *testServer, secrets []string, want ...string) {
	t.Helper()
	ctx := context.Background()
	cols, tables := clearColumns(t, srv.DB)
	for _, col := range cols {
		ident, name := col.ident, col.column
		cond := fmt.Sprintf(`strpos(lower(%[1]s::text), lower($1)) > 0`, name)
		if col.typ == "bytea" {
			cond += fmt.Sprintf(` OR position(convert_to($1, 'UTF8') IN %[1]s) > 0`, name)
		}
		for _, s := range secrets {
			var n int
			if err := srv.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM `+ident+` WHERE `+cond, s).Scan(&n); err != nil {
				t.Fatalf("%s.%s: %v", ident, name, err)
			}
			if n > 0 {
				t.Errorf("%s.%s: %d rows hold %q in clear", ident, name, n, s)
			}
		}
	}
	for _, w := range want {
		if !tables[w] {
			t.Errorf("the scan did not reach %s", w)
		}
	}
}
