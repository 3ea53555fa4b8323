package main

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// The secrets of the restricted rating: evidence and rationale of TRAP-18's
// "mental disorder" (GDPR Art. 9), as the lead rates it.
const (
	restrictedEvidence  = "Diagnosed Quokka-7"
	restrictedRationale = "Letter Wombat-9"
	restrictedNotice    = "Restricted: only the case lead and legal can read this item"
)

// restrictedWorld is a case with the shipped TRAP-18 screen, led by a
// threat manager, with a threat manager as expert, an HR member with read
// access and a legal member.
type restrictedWorld struct {
	*caseWorld
	clients map[string]*client
	svc     *postgres.AssessmentService
	trap    *tma.Instrument
}

func newRestrictedWorld(t *testing.T) *restrictedWorld {
	t.Helper()
	srv := startServer(t, nil)
	cw := newCaseWorld(t, srv, map[string]tma.Role{
		"lead": tma.RoleThreatManager, "tm expert": tma.RoleThreatManager, "hr": tma.RoleHR, "legal": tma.RoleLegal,
	})
	cw.kase = cw.createCase(t, cw.users["lead"])
	cw.member(t, cw.users["tm expert"], tma.CaseExpert, nil)
	cw.member(t, cw.users["hr"], tma.CaseReadOnly, nil)
	cw.member(t, cw.users["legal"], tma.CaseExpert, nil)
	if err := seedInstruments(context.Background(), srv.DB, slog.New(slog.NewTextHandler(io.Discard, nil)), cw.tenant); err != nil {
		t.Fatal(err)
	}
	w := &restrictedWorld{caseWorld: cw, clients: cw.signIn(t), svc: postgres.NewAssessmentService(srv.DB, crypt.NewCaseRecords(srv.CaseKeys))}
	var err error
	if w.trap, err = postgres.NewInstrumentService(srv.DB).Instrument(context.Background(), cw.tenant.ID, "trap18-screen", 1); err != nil {
		t.Fatal(err)
	}
	if it, _ := w.trap.Item("mental-disorder"); it == nil || !it.Restricted {
		t.Fatalf("the shipped TRAP-18 screen's mental disorder is not restricted: %+v", it)
	}
	return w
}

func (w *restrictedWorld) ctx(persona string) context.Context {
	u := w.users[persona]
	return tma.NewContextWithActor(context.Background(), tma.Actor{UserID: u.ID, TenantID: w.tenant.ID, Label: u.Email})
}

// leadRatings rates every item absent except those left out, and
// mental-disorder present with the secret texts.
func (w *restrictedWorld) leadRatings(leaveOut ...string) map[string]tma.Rating {
	out := map[string]tma.Rating{}
	for _, s := range w.trap.Sections {
		for _, it := range s.Items {
			out[it.ID] = tma.Rating{Value: "absent", Evidence: "Nothing seen."}
		}
	}
	out["mental-disorder"] = tma.Rating{Value: "present", Evidence: restrictedEvidence, Rationale: restrictedRationale}
	for _, id := range leaveOut {
		delete(out, id)
	}
	return out
}

// itemOnPage is the part of an assessment page about one item.
func itemOnPage(body, id string) string {
	_, rest, ok := strings.Cut(body, `id="item-`+id+`"`)
	if !ok {
		return ""
	}
	if i := strings.Index(rest, `id="item-`); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// TestRestrictedItemHiddenFromNonLeads: the lead rates TRAP-18's "mental
// disorder" present with evidence and submits. An HR member with read
// access and a threat manager who is an expert of the case see neither
// value nor texts: not on the assessment page, not on the case page, not
// in the PDF export, not through the service. The lead and a legal member
// see them.
func TestRestrictedItemHiddenFromNonLeads(t *testing.T) {
	w := newRestrictedWorld(t)
	a, err := w.svc.Start(w.ctx("lead"), w.tenant.ID, w.kase.ID, "trap18-screen", 1)
	if err != nil {
		t.Fatal(err)
	}
	in := tma.AssessmentInput{Revision: a.Revision, Ratings: w.leadRatings(),
		Judgments: map[string]tma.Judgment{"concern": {Value: "moderate", Rationale: "As discussed."}}}
	if a, err = w.svc.Submit(w.ctx("lead"), w.tenant.ID, w.kase.ID, a.ID, in, true); err != nil || a.Status != tma.AssessmentFinal {
		t.Fatalf("submit: %v", err)
	}

	// The instrument's page marks the restricted items.
	if status, body := w.clients["lead"].get("/instruments/trap18-screen/1"); status != http.StatusOK ||
		strings.Count(body, `<span class="badge warn" title="Contains health or criminal-offence data (GDPR Art. 9/10)">Art. 9/10</span>`) != 2 {
		t.Errorf("the instrument page does not mark the 2 restricted items: status %d", status)
	}

	readers := map[string]bool{"lead": true, "legal": true, "tm expert": false, "hr": false}
	for persona, reads := range readers {
		t.Run(persona, func(t *testing.T) {
			c := w.clients[persona]
			body, _ := assessmentPage(t, c, w.kase.ID, a.ID)
			item := itemOnPage(body, "mental-disorder")
			if item == "" {
				t.Fatalf("the page lacks the item mental disorder")
			}
			for _, secret := range []string{restrictedEvidence, restrictedRationale} {
				if got := strings.Contains(body, secret); got != reads {
					t.Errorf("page: %q shown: %v, want %v", secret, got, reads)
				}
			}
			if got := strings.Contains(item, ">Present<"); got != reads {
				t.Errorf("page: the value of mental disorder shown: %v, want %v: %.400s", got, reads, item)
			}
			if got := strings.Contains(item, restrictedNotice); got == reads {
				t.Errorf("page: the restricted notice shown: %v, want %v", got, !reads)
			}
			if _, page := c.get("/cases/" + w.kase.ID); strings.Contains(page, restrictedEvidence) {
				t.Errorf("the case page shows the restricted evidence")
			}

			status, pdf, _ := c.do(http.MethodGet, "/cases/"+w.kase.ID+"/export.pdf", nil, nil)
			if status == http.StatusOK {
				text := pdfText(t, pdf)
				for _, secret := range []string{"Quokka", "Wombat"} {
					if got := strings.Contains(text, secret); got != reads {
						t.Errorf("PDF: %q printed: %v, want %v", secret, got, reads)
					}
				}
				if !reads && !strings.Contains(text, "Restricted") {
					t.Errorf("PDF: the hidden rating is not marked restricted")
				}
			} else if persona != "hr" {
				t.Errorf("export: status %d", status)
			}

			list, err := w.svc.Assessments(w.ctx(persona), w.tenant.ID, w.kase.ID, reads)
			if err != nil || len(list) != 1 {
				t.Fatalf("Assessments: %v, %d", err, len(list))
			}
			r := list[0].Ratings["mental-disorder"]
			if reads && (r.Value != "present" || r.Evidence != restrictedEvidence || r.Hidden) {
				t.Errorf("service: a reader gets %+v", r)
			}
			if !reads && (r.Value != "" || r.Evidence != "" || r.Rationale != "" || !r.Hidden) {
				t.Errorf("service: a non-reader gets %+v", r)
			}
			if list[0].Ratings["pathway"].Value != "absent" {
				t.Errorf("service: the other ratings are gone: %+v", list[0].Ratings["pathway"])
			}
		})
	}
}

// TestRestrictedItemKeptWhenOthersSave: the lead rates "mental disorder"
// in a draft. An expert threat manager, who may not read it, gets no
// inputs for it; their saves, even one that sends a value for it, keep the
// lead's rating as it is. Their submission with a restricted item still
// unrated is refused with a clear 400; once the lead rated it, their
// submission goes through, with the rules run on every rating.
func TestRestrictedItemKeptWhenOthersSave(t *testing.T) {
	w := newRestrictedWorld(t)
	a, err := w.svc.Start(w.ctx("lead"), w.tenant.ID, w.kase.ID, "trap18-screen", 1)
	if err != nil {
		t.Fatal(err)
	}
	if a, err = w.svc.Save(w.ctx("lead"), w.tenant.ID, w.kase.ID, a.ID, tma.AssessmentInput{Revision: a.Revision,
		Ratings: map[string]tma.Rating{"mental-disorder": {Value: "present", Evidence: restrictedEvidence, Rationale: restrictedRationale}}}, true); err != nil {
		t.Fatal(err)
	}
	want := tma.Rating{Value: "present", Evidence: restrictedEvidence, Rationale: restrictedRationale}
	kept := func(when string) {
		t.Helper()
		got, err := w.svc.Assessment(w.ctx("lead"), w.tenant.ID, w.kase.ID, a.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if r := got.Ratings["mental-disorder"]; r.Value != want.Value || r.Evidence != want.Evidence || r.Rationale != want.Rationale {
			t.Fatalf("%s: the lead's restricted rating is now %+v", when, r)
		}
	}

	c := w.clients["tm expert"]
	u := w.url(a.ID)
	body, rev := assessmentPage(t, c, w.kase.ID, a.ID)
	item := itemOnPage(body, "mental-disorder")
	if strings.Contains(item, `name="rating.mental-disorder"`) || strings.Contains(item, `name="evidence.mental-disorder"`) || !strings.Contains(item, restrictedNotice) {
		t.Fatalf("the draft form offers the restricted item: %.600s", item)
	}
	if strings.Contains(body, restrictedEvidence) {
		t.Fatal("the draft form shows the restricted evidence")
	}

	// A save through the form, with a forged value for the restricted item.
	visible := map[string]string{}
	for _, s := range w.trap.Sections {
		for _, it := range s.Items {
			if !it.Restricted {
				visible[it.ID] = "absent"
			}
		}
	}
	f := rated(rev, visible, "low", "Nothing of concern.")
	f.Set("rating.mental-disorder", "absent")
	f.Set("evidence.mental-disorder", "")
	f.Set("_csrf", c.csrf)
	if status, body := c.post(u, f); status != http.StatusSeeOther {
		t.Fatalf("save: status %d: %.300s", status, alertOf(body))
	}
	kept("after the expert's save")
	if got := w.stored(t, a.ID); got.Ratings["pathway"].Value != "absent" {
		t.Fatalf("the expert's ratings were not saved: %+v", got.Ratings["pathway"])
	}

	// Submitting with "history of criminal violence" unrated: a clear 400.
	_, rev = assessmentPage(t, c, w.kase.ID, a.ID)
	f = rated(rev, visible, "low", "Nothing of concern.")
	f.Set("_csrf", c.csrf)
	status, body := c.post(u+"/submit", f)
	if msg := alertOf(body); status != http.StatusBadRequest || !strings.Contains(msg, "only the case lead or legal may rate") {
		t.Fatalf("submit with a restricted item unrated: status %d, %q", status, msg)
	}
	kept("after the refused submission")

	// The lead rates it; the expert's submission goes through.
	cur := w.stored(t, a.ID)
	cur.Ratings["criminal-violence"] = tma.Rating{Value: "absent"}
	if _, err := w.svc.Save(w.ctx("lead"), w.tenant.ID, w.kase.ID, a.ID, tma.AssessmentInput{Revision: cur.Revision, Ratings: cur.Ratings, Judgments: cur.Judgments}, true); err != nil {
		t.Fatal(err)
	}
	_, rev = assessmentPage(t, c, w.kase.ID, a.ID)
	f = rated(rev, visible, "low", "Nothing of concern.")
	f.Set("_csrf", c.csrf)
	if status, body := c.post(u+"/submit", f); status >= 400 {
		t.Fatalf("submit: status %d, %q", status, alertOf(body))
	}
	if got := w.stored(t, a.ID); got.Status != tma.AssessmentFinal {
		t.Fatalf("status %s after the submission", got.Status)
	}
	kept("after the submission")

	// A reassessment in which the lead changes the restricted rating: the
	// expert's list of changes neither shows nor counts it.
	b, err := w.svc.Start(w.ctx("lead"), w.tenant.ID, w.kase.ID, "trap18-screen", 1)
	if err != nil {
		t.Fatal(err)
	}
	next := w.stored(t, b.ID)
	next.Ratings["mental-disorder"] = tma.Rating{Value: "absent"}
	if _, err := w.svc.Save(w.ctx("lead"), w.tenant.ID, w.kase.ID, b.ID, tma.AssessmentInput{Revision: next.Revision, Ratings: next.Ratings}, true); err != nil {
		t.Fatal(err)
	}
	body, _ = assessmentPage(t, c, w.kase.ID, b.ID)
	if changes, _, _ := strings.Cut(body, `id="assessment-form"`); strings.Contains(changes, "Mental disorder") || !strings.Contains(changes, `id="changes-none"`) {
		t.Errorf("the expert's list of changes shows the restricted item: %.800s", changes[strings.Index(changes, `id="assessment-changes"`):])
	}
	if body, _ = assessmentPage(t, w.clients["lead"], w.kase.ID, b.ID); !strings.Contains(body, `href="#item-mental-disorder"`) {
		t.Errorf("the lead's list of changes lacks the restricted item")
	}
}

// url and stored for a restrictedWorld, as assessmentWorld has them.
func (w *restrictedWorld) url(id string) string {
	return "/cases/" + w.kase.ID + "/assessments/" + id
}

func (w *restrictedWorld) stored(t *testing.T, id string) *tma.Assessment {
	t.Helper()
	a, err := w.svc.Assessment(w.ctx("lead"), w.tenant.ID, w.kase.ID, id, true)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// hiddenInputRe finds the hidden inputs of a page, which a browser sends
// back with the form as they are.
var hiddenInputRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)

// TestRestrictedItemKeptWhenFormPredatesRight: an expert threat manager
// opens the draft while they may not read the restricted items, so their
// form has no inputs for them. They become a lead of the case before the
// form (or its autosave) is sent: the save must not take the missing
// inputs for "unrated" and wipe the lead's restricted rating, which the
// form never showed. A form the new lead opens afterwards still rates it.
func TestRestrictedItemKeptWhenFormPredatesRight(t *testing.T) {
	w := newRestrictedWorld(t)
	a, err := w.svc.Start(w.ctx("lead"), w.tenant.ID, w.kase.ID, "trap18-screen", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := tma.Rating{Value: "present", Evidence: restrictedEvidence, Rationale: restrictedRationale}
	if _, err = w.svc.Save(w.ctx("lead"), w.tenant.ID, w.kase.ID, a.ID, tma.AssessmentInput{Revision: a.Revision,
		Ratings: map[string]tma.Rating{"mental-disorder": want}}, true); err != nil {
		t.Fatal(err)
	}

	c := w.clients["tm expert"]
	body, rev := assessmentPage(t, c, w.kase.ID, a.ID)
	form, _, _ := strings.Cut(body[strings.Index(body, `id="assessment-form"`):], "</form>")
	visible := map[string]string{}
	for _, s := range w.trap.Sections {
		for _, it := range s.Items {
			if !it.Restricted {
				visible[it.ID] = "absent"
			}
		}
	}
	f := rated(rev, visible, "low", "Nothing of concern.")
	for _, m := range hiddenInputRe.FindAllStringSubmatch(form, -1) {
		f.Set(m[1], html.UnescapeString(m[2]))
	}
	f.Set("_csrf", c.csrf)

	if _, err := w.srv.DB.Pool.Exec(context.Background(), `UPDATE case_members SET role = 'lead' WHERE tenant_id = $1 AND case_id = $2 AND user_id = $3`,
		w.tenant.ID, w.kase.ID, w.users["tm expert"].ID); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := c.do(http.MethodPost, w.url(a.ID), f, map[string]string{"Accept": "application/json"}); status != http.StatusOK {
		t.Fatalf("autosave: status %d: %.300s", status, body)
	}
	got := w.stored(t, a.ID)
	if r := got.Ratings["mental-disorder"]; r.Value != want.Value || r.Evidence != want.Evidence || r.Rationale != want.Rationale {
		t.Fatalf("a form that never showed the restricted item wiped it: %+v", r)
	}
	if got.Ratings["pathway"].Value != "absent" {
		t.Fatalf("the expert's ratings were not saved: %+v", got.Ratings["pathway"])
	}

	// Now a lead, they see and rate the item on a form opened afterwards.
	body, rev = assessmentPage(t, c, w.kase.ID, a.ID)
	if !strings.Contains(itemOnPage(body, "mental-disorder"), restrictedEvidence) {
		t.Fatal("the new lead's form lacks the restricted rating")
	}
	form, _, _ = strings.Cut(body[strings.Index(body, `id="assessment-form"`):], "</form>")
	f = rated(rev, visible, "low", "Nothing of concern.")
	for _, m := range hiddenInputRe.FindAllStringSubmatch(form, -1) {
		f.Set(m[1], html.UnescapeString(m[2]))
	}
	f.Set("rating.mental-disorder", "absent")
	f.Set("_csrf", c.csrf)
	if status, body := c.post(w.url(a.ID), f); status != http.StatusSeeOther {
		t.Fatalf("the new lead's save: status %d: %.300s", status, alertOf(body))
	}
	if r := w.stored(t, a.ID).Ratings["mental-disorder"]; r.Value != "absent" {
		t.Fatalf("the new lead's rating of the restricted item was not saved: %+v", r)
	}
}

// TestRestrictedInstrumentNeedsApproverWhoReads: an assessment with an
// instrument that has restricted items waits for a second approver; a
// threat manager who may not read restricted items is not offered the
// approval and is refused it (403), since they would approve a judgment
// resting on data they cannot see. Once a lead of the case, they may.
func TestRestrictedInstrumentNeedsApproverWhoReads(t *testing.T) {
	w := newRestrictedWorld(t)
	a, err := w.svc.Start(w.ctx("lead"), w.tenant.ID, w.kase.ID, "trap18-screen", 1)
	if err != nil {
		t.Fatal(err)
	}
	ratings := w.leadRatings()
	ratings["pathway"] = tma.Rating{Value: "present", Evidence: "Asked about the guards' rounds."}
	in := tma.AssessmentInput{Revision: a.Revision, Ratings: ratings,
		Judgments: map[string]tma.Judgment{"concern": {Value: "low", Rationale: "Explained by the move."}}}
	if a, err = w.svc.Submit(w.ctx("lead"), w.tenant.ID, w.kase.ID, a.ID, in, true); err != nil || a.Status != tma.AssessmentPending {
		t.Fatalf("submit: %v, want pending", err)
	}

	expert := w.clients["tm expert"]
	_, page := expert.get("/cases/" + w.kase.ID)
	if strings.Contains(page, `id="pending-approve"`) || !strings.Contains(page, `id="pending-restricted"`) {
		t.Error("the case page offers the approval to a threat manager who may not read restricted items")
	}
	approve := "/cases/" + w.kase.ID + "/assessments/" + a.ID + "/approve"
	status, body := expert.post(approve, nil)
	if msg := alertOf(body); status != http.StatusForbidden || !strings.Contains(msg, "only the case lead and legal may read") {
		t.Fatalf("approval by a non-reader: status %d, message %q; want 403", status, msg)
	}
	if got, _ := w.svc.Assessment(w.ctx("lead"), w.tenant.ID, w.kase.ID, a.ID, true); got.Status != tma.AssessmentPending {
		t.Fatalf("after the refused approval the assessment is %s", got.Status)
	}

	if err := postgres.NewCaseService(w.srv.DB).ChangeMember(w.ctx("lead"), w.tenant.ID, w.kase.ID,
		tma.NewMember{UserID: w.users["tm expert"].ID, Role: tma.CaseLead}); err != nil {
		t.Fatal(err)
	}
	if status, body := expert.post(approve, nil); status != http.StatusOK {
		t.Fatalf("approval by a lead: status %d: %.300s", status, alertOf(body))
	}
	if got, _ := w.svc.Assessment(w.ctx("lead"), w.tenant.ID, w.kase.ID, a.ID, true); got.Status != tma.AssessmentFinal {
		t.Errorf("after the lead's approval the assessment is %s, want final", got.Status)
	}
}
