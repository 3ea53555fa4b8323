package main

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// checkInstrument is the instrument of the assessment tests, as a file.
// Version 2 renames "grievance", removes "weapons" and adds "isolation".
func checkInstrument(version int) string {
	items := `      - id: threat
        name: Direct threat
        kind: dynamic
        critical: true
        scale: presence
        guidance: Words and channel of the threat.
      - id: grievance
        name: Grievance
        kind: static
        scale: presence
      - id: weapons
        name: Access to weapons
        kind: dynamic
        scale: presence
`
	if version >= 2 {
		items = `      - id: threat
        name: Direct threat
        kind: dynamic
        critical: true
        scale: presence
        guidance: Words and channel of the threat.
      - id: grievance
        name: Personal grievance and moral outrage
        kind: static
        scale: presence
      - id: isolation
        name: Social isolation
        kind: dynamic
        scale: presence
`
	}
	return fmt.Sprintf(`id: workplace-check
version: %d
title: Workplace check
language: en
license_note: Our own structure for tests.
scales:
  - id: presence
    values:
      - code: absent
        label: Absent
      - code: present
        label: Present
        present: true
      - code: unknown
        label: Unknown
        unknown: true
  - id: concern
    values:
      - code: low
        label: Low concern
      - code: moderate
        label: Moderate concern
      - code: high
        label: High concern
      - code: imminent
        label: Imminent concern
sections:
  - id: signs
    title: Warning signs
    items:
%ssummary_judgments:
  - id: concern
    title: Level of concern
    scale: concern
    rationale_required: true
    sets_risk: true
rules:
  - id: critical-below-high
    when: critical_present_below
    judgment: concern
    level: high
    then: second_approver
    message: A critical item is present while the concern is below high.
`, version, items)
}

// importInstrument uploads an instrument file (pasted text) and expects it
// to be stored.
func importInstrument(t *testing.T, c *client, src string) {
	t.Helper()
	status, body := c.post("/instruments", url.Values{"source": {src}})
	if status != http.StatusSeeOther {
		t.Fatalf("import: status %d: %.500s", status, body)
	}
}

// alertOf is the page's error message, "" if none.
func alertOf(body string) string {
	if m := alertRe.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// importInstrumentFile uploads an instrument file as the form's file
// field (multipart) and expects it to be stored.
func importInstrumentFile(t *testing.T, c *client, name, src string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := mw.WriteField("_csrf", c.csrf); err != nil {
		t.Fatal(err)
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte(src))
	mw.Close()
	status, b, _ := c.send(http.MethodPost, "/instruments", &body, map[string]string{"Content-Type": mw.FormDataContentType()})
	if status != http.StatusSeeOther {
		t.Fatalf("import %s: status %d: %.500s", name, status, b)
	}
}

var (
	alertRe      = regexp.MustCompile(`<div class="alert error" role="alert">([^<]*)</div>`)
	revisionRe   = regexp.MustCompile(`name="revision" value="(\d+)"`)
	assessmentRe = regexp.MustCompile(`/assessments/([0-9a-f-]{36})$`)
)

// startAssessment starts an assessment with instrument ("id:version") and
// returns its id.
func startAssessment(t *testing.T, c *client, caseID, instrument string) string {
	t.Helper()
	c.get("/cases/" + caseID)
	form := url.Values{"instrument": {instrument}, "_csrf": {c.csrf}}
	status, body, h := c.do(http.MethodPost, "/cases/"+caseID+"/assessments", form, nil)
	m := assessmentRe.FindStringSubmatch(h.Get("Location"))
	if status != http.StatusSeeOther || m == nil {
		t.Fatalf("start with %s: status %d, Location %q: %.500s", instrument, status, h.Get("Location"), body)
	}
	return m[1]
}

// assessmentPage opens an assessment's page and returns its body and the
// form's revision (0 without a form).
func assessmentPage(t *testing.T, c *client, caseID, id string) (string, string) {
	t.Helper()
	status, body := c.get("/cases/" + caseID + "/assessments/" + id)
	if status != http.StatusOK {
		t.Fatalf("assessment page: status %d: %.300s", status, body)
	}
	rev := "0"
	if m := revisionRe.FindStringSubmatch(body); m != nil {
		rev = m[1]
	}
	return body, rev
}

// rated is an assessment form: ratings by item, the concern judgment and
// its rationale.
func rated(revision string, ratings map[string]string, concern, rationale string) url.Values {
	f := url.Values{"revision": {revision}}
	for id, v := range ratings {
		f.Set("rating."+id, v)
		f.Set("evidence."+id, "Seen on "+id)
	}
	f.Set("judgment.concern", concern)
	f.Set("judgment_rationale.concern", rationale)
	return f
}

// assessmentWorld is a tenant with two threat managers on one case: the
// lead and a second one (expert), who can be the second approver.
type assessmentWorld struct {
	srv          *testServer
	tenant       *tma.Tenant
	lead, second *tma.User
	kase         *tma.Case
	lc, sc       *client
}

func newAssessmentWorld(t *testing.T) *assessmentWorld {
	t.Helper()
	srv := startServer(t, nil)
	tn, users := srv.mustTenant(t, "acme", tma.RoleThreatManager)
	w := &assessmentWorld{srv: srv, tenant: tn, lead: users[0]}
	second, err := postgres.NewUserService(srv.DB).CreateUser(systemCtx(context.Background(), tn.ID), tn.ID, tma.NewUser{
		Email: "second@acme.example", DisplayName: "Second Manager", Password: testPassword, Roles: []tma.Role{tma.RoleThreatManager}})
	if err != nil {
		t.Fatal(err)
	}
	w.second = second
	ctx := tma.NewContextWithActor(context.Background(), tma.Actor{UserID: w.lead.ID, TenantID: tn.ID, Label: w.lead.Email})
	cases := postgres.NewCaseService(srv.DB)
	if w.kase, err = cases.CreateCase(ctx, tn.ID, tma.NewCase{Title: "Threats at the depot"}); err != nil {
		t.Fatal(err)
	}
	if err := cases.AddMember(ctx, tn.ID, w.kase.ID, tma.NewMember{Email: second.Email, Role: tma.CaseExpert}); err != nil {
		t.Fatal(err)
	}
	w.lc, w.sc = srv.client(t), srv.client(t)
	w.lc.login("acme", w.lead.Email)
	w.sc.login("acme", second.Email)
	return w
}

// stored reads an assessment through the service, as the lead.
func (w *assessmentWorld) stored(t *testing.T, id string) *tma.Assessment {
	t.Helper()
	ctx := tma.NewContextWithActor(context.Background(), tma.Actor{UserID: w.lead.ID, TenantID: w.tenant.ID, Label: w.lead.Email})
	a, err := postgres.NewAssessmentService(w.srv.DB, crypt.NewCaseRecords(w.srv.CaseKeys)).Assessment(ctx, w.tenant.ID, w.kase.ID, id, true)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (w *assessmentWorld) url(id string) string {
	return "/cases/" + w.kase.ID + "/assessments/" + id
}

// TestAssessmentPinnedToVersion: an assessment made with version 1 of an
// instrument stays as it was when version 2 (an item renamed, one removed,
// one added) is imported, and its page shows version 1's items; a
// reassessment uses version 2, carries the ratings over by item id and
// lists the added and removed items for review.
func TestAssessmentPinnedToVersion(t *testing.T) {
	w := newAssessmentWorld(t)
	importInstrument(t, w.lc, checkInstrument(1))
	a1 := startAssessment(t, w.lc, w.kase.ID, "workplace-check:1")
	_, rev := assessmentPage(t, w.lc, w.kase.ID, a1)
	ratings := map[string]string{"threat": "absent", "grievance": "present", "weapons": "absent"}
	if status, body := w.lc.post(w.url(a1)+"/submit", rated(rev, ratings, "moderate", "A grievance, no threat.")); status != http.StatusOK {
		t.Fatalf("submit: status %d: %.500s", status, body)
	}
	before := w.stored(t, a1)
	if before.Status != tma.AssessmentFinal || before.InstrumentVersion != 1 || before.Risk != tma.RiskModerate {
		t.Fatalf("after submit: status %s, version %d, risk %s", before.Status, before.InstrumentVersion, before.Risk)
	}

	w.lc.get("/instruments")
	importInstrumentFile(t, w.lc, "workplace-check-v2.yaml", checkInstrument(2))

	after := w.stored(t, a1)
	if after.InstrumentVersion != 1 || after.Status != tma.AssessmentFinal || after.Revision != before.Revision {
		t.Errorf("the v1 assessment changed: version %d, status %s, revision %d→%d", after.InstrumentVersion, after.Status, before.Revision, after.Revision)
	}
	for id, v := range ratings {
		if after.Ratings[id].Value != v {
			t.Errorf("rating of %s: %q, want %q", id, after.Ratings[id].Value, v)
		}
	}
	// Version 1's file is kept as uploaded, and sent as a download.
	status, src, h := w.lc.do(http.MethodGet, "/instruments/workplace-check/1/source", nil, nil)
	if status != http.StatusOK || src != checkInstrument(1) || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") ||
		!strings.HasPrefix(h.Get("Content-Disposition"), `attachment; filename="workplace-check-v1.yaml"`) {
		t.Errorf("source of version 1: %d %v %.200q", status, h, src)
	}
	body, _ := assessmentPage(t, w.lc, w.kase.ID, a1)
	for _, want := range []string{"Workplace check, version 1", "Grievance", "Access to weapons"} {
		if !strings.Contains(body, want) {
			t.Errorf("the v1 page lacks %q", want)
		}
	}
	for _, not := range []string{"Personal grievance", "Social isolation"} {
		if strings.Contains(body, not) {
			t.Errorf("the v1 page shows version 2's %q", not)
		}
	}

	// A reassessment with the latest version.
	a2 := startAssessment(t, w.lc, w.kase.ID, "workplace-check:0")
	re := w.stored(t, a2)
	if re.InstrumentVersion != 2 || re.PreviousID != a1 {
		t.Fatalf("reassessment: version %d, previous %q, want 2 and %s", re.InstrumentVersion, re.PreviousID, a1)
	}
	if re.Ratings["threat"].Value != "absent" || re.Ratings["grievance"].Value != "present" || re.Ratings["grievance"].Evidence != "Seen on grievance" {
		t.Errorf("ratings not carried over by item id: %+v", re.Ratings)
	}
	if _, ok := re.Ratings["weapons"]; ok {
		t.Errorf("the removed item's rating was carried over")
	}
	body, _ = assessmentPage(t, w.lc, w.kase.ID, a2)
	added := regexp.MustCompile(`(?s)<ul id="items-added">(.*?)</ul>`).FindStringSubmatch(body)
	removed := regexp.MustCompile(`(?s)<ul id="items-removed">(.*?)</ul>`).FindStringSubmatch(body)
	if added == nil || !strings.Contains(added[1], "Social isolation") || strings.Contains(added[1], "Grievance") {
		t.Errorf("added items for review: %q", added)
	}
	if removed == nil || !strings.Contains(removed[1], "Access to weapons") {
		t.Errorf("removed items for review: %q", removed)
	}
	if !strings.Contains(body, "Personal grievance and moral outrage") {
		t.Errorf("the reassessment does not show version 2's item names")
	}
}

// TestAssessmentBadInput: a submission without the required rationale, a
// rating of an item the instrument lacks, a save on a stale revision, an
// approval by the author, and an instrument file with problems are each
// refused with a clear message; nothing is lost or stored.
func TestAssessmentBadInput(t *testing.T) {
	w := newAssessmentWorld(t)
	importInstrument(t, w.lc, checkInstrument(1))
	id := startAssessment(t, w.lc, w.kase.ID, "workplace-check:1")
	_, rev := assessmentPage(t, w.lc, w.kase.ID, id)
	all := map[string]string{"threat": "present", "grievance": "absent", "weapons": "absent"}

	t.Run("submit without rationale", func(t *testing.T) {
		status, body := w.lc.post(w.url(id)+"/submit", rated(rev, all, "low", ""))
		if msg := alertOf(body); status != http.StatusBadRequest || !strings.Contains(msg, "Level of concern") || !strings.Contains(msg, "rationale") {
			t.Fatalf("status %d, message %q; want 400 asking for the judgment's rationale", status, msg)
		}
		if a := w.stored(t, id); a.Status != tma.AssessmentDraft {
			t.Fatalf("status %s after a refused submission", a.Status)
		}
	})
	t.Run("rating an unknown item", func(t *testing.T) {
		f := rated(rev, map[string]string{"no-such-item": "present"}, "", "")
		status, body := w.lc.post(w.url(id), f)
		if msg := alertOf(body); status != http.StatusBadRequest || !strings.Contains(msg, "no-such-item") {
			t.Fatalf("status %d, message %q; want 400 naming the item: %.300s", status, msg, body)
		}
	})
	t.Run("stale revision", func(t *testing.T) {
		_, rev := assessmentPage(t, w.lc, w.kase.ID, id)
		if status, body := w.lc.post(w.url(id), rated(rev, map[string]string{"threat": "unknown"}, "", "")); status != http.StatusSeeOther {
			t.Fatalf("save: status %d: %.300s", status, body)
		}
		// The second threat manager edits from the page they loaded before.
		f := rated(rev, map[string]string{"grievance": "present"}, "", "")
		f.Set("evidence.grievance", "Wrote an angry letter to the board")
		status, body := w.sc.post(w.url(id), f)
		if status != http.StatusConflict || !strings.Contains(body, "Wrote an angry letter to the board") || !strings.Contains(body, `id="assessment-conflict"`) {
			t.Fatalf("stale save: status %d, want 409 keeping the input: %.600s", status, body)
		}
		// The page names the items where the saved draft differs from the
		// input (the lead rated "threat", the second manager "grievance"),
		// and no other.
		for item, want := range map[string]bool{"Direct threat": true, "Grievance": true, "Access to weapons": false} {
			if got := strings.Contains(body, "<li>"+item+"</li>"); got != want {
				t.Errorf("conflict list names %q: %v, want %v", item, got, want)
			}
		}
		// The autosave asks for JSON.
		f.Set("_csrf", w.sc.csrf)
		status, jbody, _ := w.sc.do(http.MethodPost, w.url(id), f, map[string]string{"Accept": "application/json"})
		if status != http.StatusConflict || !strings.Contains(jbody, `"conflict"`) {
			t.Fatalf("stale autosave: status %d: %.300s", status, jbody)
		}
		_, cur := assessmentPage(t, w.lc, w.kase.ID, id)
		f = rated(cur, map[string]string{"threat": "present"}, "", "")
		f.Set("_csrf", w.lc.csrf)
		status, jbody, _ = w.lc.do(http.MethodPost, w.url(id), f, map[string]string{"Accept": "application/json"})
		if status != http.StatusOK || !strings.Contains(jbody, `"revision"`) {
			t.Fatalf("autosave: status %d: %.300s", status, jbody)
		}
	})
	t.Run("approving one's own assessment", func(t *testing.T) {
		_, rev := assessmentPage(t, w.lc, w.kase.ID, id)
		if status, body := w.lc.post(w.url(id)+"/submit", rated(rev, all, "low", "Calm in the talk.")); status != http.StatusOK || !strings.Contains(body, `id="assessment-waiting"`) {
			t.Fatalf("submit: status %d, want pending: %.500s", status, body)
		}
		body, _ := assessmentPage(t, w.lc, w.kase.ID, id)
		if strings.Contains(body, `id="assessment-approve"`) || !strings.Contains(body, `id="assessment-own"`) {
			t.Errorf("the author is offered the approval")
		}
		if status, body := w.lc.post(w.url(id)+"/approve", nil); status != http.StatusForbidden || !strings.Contains(alertOf(body), "your own assessment") {
			t.Fatalf("approve own: status %d, message %q; want 403", status, alertOf(body))
		}
		if a := w.stored(t, id); a.Status != tma.AssessmentPending {
			t.Fatalf("status %s after the author's approval", a.Status)
		}
		status, body := w.sc.post(w.url(id)+"/approve", nil)
		if status != http.StatusOK || !strings.Contains(body, `id="current-risk"`) {
			t.Fatalf("approve by the second: status %d: %.300s", status, body)
		}
		if a := w.stored(t, id); a.Status != tma.AssessmentFinal || a.DecidedBy != w.second.ID {
			t.Fatalf("after approval: %s by %q", a.Status, a.DecidedBy)
		}
	})
	t.Run("instrument with problems", func(t *testing.T) {
		bad := strings.NewReplacer("id: workplace-check", "id: broken-check", "title: Workplace check", "title: ''",
			"        kind: static\n", "        kind: historic\n", "scale: concern\n    rationale_required", "scale: worry\n    rationale_required").Replace(checkInstrument(1))
		status, body := w.lc.post("/instruments", url.Values{"source": {bad}})
		if status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400: %.500s", status, body)
		}
		list := regexp.MustCompile(`(?s)<div class="alert error" id="instrument-problems">(.*?)</div>`).FindStringSubmatch(body)
		if list == nil {
			t.Fatalf("no list of problems: %.1500s", body)
		}
		for _, want := range []string{"title", "sections[0].items[1].kind", "summary_judgments[0].scale"} {
			if !strings.Contains(list[1], "<code>"+want+"</code>") {
				t.Errorf("the problem at %s is not listed: %s", want, list[1])
			}
		}
		if n := strings.Count(list[1], "<li>"); n < 3 || strings.Count(list[1], "Line ") < 3 {
			t.Errorf("%d problems listed, not every one with its line: %s", n, list[1])
		}
		if status, _ := w.lc.get("/instruments/broken-check/1"); status != http.StatusNotFound {
			t.Errorf("the broken instrument was stored: status %d", status)
		}
		// The same version with other content is a conflict.
		changed := strings.Replace(checkInstrument(1), "title: Workplace check", "title: Workplace check (changed)", 1)
		if status, body := w.lc.post("/instruments", url.Values{"source": {changed}}); status != http.StatusConflict {
			t.Errorf("changed version 1: status %d, want 409: %.300s", status, body)
		}
	})
}

// TestAssessmentLargeForm: an instrument of 500 items (the limit) is rated
// in one form of some 2,000 fields.
func TestAssessmentLargeForm(t *testing.T) {
	w := newAssessmentWorld(t)
	var b strings.Builder
	b.WriteString(strings.Split(checkInstrument(1), "sections:\n")[0])
	b.WriteString("sections:\n  - id: many\n    title: Many items\n    items:\n")
	for i := range tma.MaxInstrumentItems {
		fmt.Fprintf(&b, "      - id: item-%d\n        name: Item %d\n        kind: dynamic\n        scale: presence\n", i, i)
	}
	b.WriteString("summary_judgments:\n" + strings.SplitN(strings.Split(checkInstrument(1), "summary_judgments:\n")[1], "rules:\n", 2)[0])
	src := strings.Replace(b.String(), "id: workplace-check", "id: large-check", 1)
	importInstrument(t, w.lc, src)
	id := startAssessment(t, w.lc, w.kase.ID, "large-check:1")
	_, rev := assessmentPage(t, w.lc, w.kase.ID, id)
	f := url.Values{"revision": {rev}}
	for i := range tma.MaxInstrumentItems {
		item := fmt.Sprintf("item-%d", i)
		f.Set("rating."+item, "absent")
		f.Set("evidence."+item, "e")
		f.Set("rationale."+item, "r")
		f.Set("links."+item, "")
	}
	if status, body := w.lc.post(w.url(id), f); status != http.StatusSeeOther {
		t.Fatalf("save of %d fields: status %d: %.300s", len(f), status, body)
	}
	if a := w.stored(t, id); len(a.Ratings) != tma.MaxInstrumentItems || a.Ratings["item-499"].Rationale != "r" {
		t.Fatalf("%d ratings stored", len(a.Ratings))
	}
}

// TestAssessmentKeepsLinksTheEditorCannotSee: the lead cites a restricted
// note; a second threat manager, who may not read restricted notes, edits
// the draft through the form. The citation stays, and the page names the
// note to them by neither title nor text.
func TestAssessmentKeepsLinksTheEditorCannotSee(t *testing.T) {
	w := newAssessmentWorld(t)
	importInstrument(t, w.lc, checkInstrument(1))
	id := startAssessment(t, w.lc, w.kase.ID, "workplace-check:1")
	ctx := tma.NewContextWithActor(context.Background(), tma.Actor{UserID: w.lead.ID, TenantID: w.tenant.ID, Label: w.lead.Email})
	sealer := crypt.NewCaseRecords(w.srv.CaseKeys)
	note, err := postgres.NewNoteService(w.srv.DB, sealer).AddNote(ctx, w.tenant.ID, w.kase.ID,
		tma.NoteInput{Title: "Psychiatric report Zebraquartz", Body: "Diagnosis.", Restricted: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.NewAssessmentService(w.srv.DB, sealer).Save(ctx, w.tenant.ID, w.kase.ID, id, tma.AssessmentInput{Revision: 1,
		Ratings: map[string]tma.Rating{"threat": {Value: "present", Links: []string{note.ID}}}}, true); err != nil {
		t.Fatal(err)
	}

	body, rev := assessmentPage(t, w.sc, w.kase.ID, id)
	if strings.Contains(body, "Zebraquartz") {
		t.Fatal("the page names a restricted note to a reader who may not read it")
	}
	form := rated(rev, map[string]string{"threat": "present", "grievance": "absent"}, "", "")
	for _, m := range regexp.MustCompile(`<input type="hidden" name="(links\.[a-z0-9_-]+)" value="([^"]+)">`).FindAllStringSubmatch(body, -1) {
		form.Add(m[1], m[2])
	}
	form.Set("_csrf", w.sc.csrf)
	if status, body := w.sc.post(w.url(id), form); status != http.StatusSeeOther {
		t.Fatalf("save: %d %.300s", status, body)
	}
	a := w.stored(t, id)
	if got := a.Ratings["threat"].Links; !slices.Equal(got, []string{note.ID}) {
		t.Errorf("after the second manager's save, threat cites %v, want the restricted note %s", got, note.ID)
	}
	if a.Ratings["grievance"].Value != "absent" {
		t.Errorf("the second manager's rating was not saved: %+v", a.Ratings)
	}
}
