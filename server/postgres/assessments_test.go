package postgres_test

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// assessEnv is docEnv's tenant and case (lead, lead2 and the legal expert
// as members) with a third threat manager, tm3, as an expert of the case,
// the screen instrument imported, and the assessment service.
type assessEnv struct {
	*docEnv
	svc   *postgres.AssessmentService
	notes *postgres.NoteService
	insts *postgres.InstrumentService
	tm3   *tma.User
}

// assessScreen is a three-item screen with a critical item and the rule
// that a critical item present while the concern is below high needs a
// second approver.
func assessScreen(version int) *tma.Instrument {
	return &tma.Instrument{
		ID: "screen", Version: version, Title: "Screen", LicenseNote: "Structure only.",
		Scales: []tma.Scale{
			{ID: "presence", Values: []tma.ScaleValue{{Code: "no", Label: "Absent"}, {Code: "yes", Label: "Present", Present: true}, {Code: "unknown", Label: "Unknown", Unknown: true}}},
			{ID: "concern", Values: []tma.ScaleValue{{Code: "low", Label: "Low"}, {Code: "moderate", Label: "Moderate"}, {Code: "high", Label: "High"}, {Code: "imminent", Label: "Imminent"}}},
		},
		Sections: []tma.Section{
			{ID: "proximal", Title: "Proximal", Items: []tma.Item{
				{ID: "pathway", Name: "Pathway", Kind: tma.ItemDynamic, Critical: true, Scale: "presence"},
				{ID: "fixation", Name: "Fixation", Kind: tma.ItemDynamic, Scale: "presence"},
			}},
			{ID: "distal", Title: "Distal", Items: []tma.Item{{ID: "grievance", Name: "Grievance", Kind: tma.ItemStatic, Scale: "presence"}}},
		},
		Judgments: []tma.SummaryJudgment{{ID: "concern", Title: "Level of concern", Scale: "concern", RationaleRequired: true, SetsRisk: true}},
		Rules:     []tma.Rule{{ID: "critical-below-high", When: tma.RuleCriticalPresentBelow, Then: tma.RuleSecondApprover, Judgment: "concern", Level: "high"}},
	}
}

func newAssessEnv(t *testing.T) *assessEnv {
	t.Helper()
	d := newDocEnv(t)
	sealer := crypt.NewCaseRecords(d.keys)
	e := &assessEnv{docEnv: d, svc: postgres.NewAssessmentService(d.db, sealer), notes: postgres.NewNoteService(d.db, sealer),
		insts: postgres.NewInstrumentService(d.db)}
	ctx := context.Background()
	u, err := d.users.CreateUser(operator(ctx, d.tenant.ID), d.tenant.ID, tma.NewUser{
		Email: "tm3@acme.example", DisplayName: "Third Manager", Password: password, Roles: []tma.Role{tma.RoleThreatManager}})
	if err != nil {
		t.Fatal(err)
	}
	e.tm3 = u
	if err := d.cases.AddMember(actorCtx(d.lead), d.tenant.ID, d.kase.ID, tma.NewMember{Email: u.Email, Role: tma.CaseExpert}); err != nil {
		t.Fatal(err)
	}
	e.importScreen(t, 1)
	return e
}

func (e *assessEnv) importScreen(t *testing.T, version int) {
	t.Helper()
	if _, err := e.insts.Import(actorCtx(e.lead), e.tenant.ID, assessScreen(version), []byte("screen")); err != nil {
		t.Fatal(err)
	}
}

// form is a complete form: every item rated (pathway as given, the others
// absent) and the concern with a rationale.
func form(revision int, pathway, concern string) tma.AssessmentInput {
	return tma.AssessmentInput{Revision: revision,
		Ratings: map[string]tma.Rating{
			"pathway":   {Value: pathway, Evidence: "Was seen at the depot gate.", Rationale: "Counts as research."},
			"fixation":  {Value: "no"},
			"grievance": {Value: "no"},
		},
		Judgments: map[string]tma.Judgment{"concern": {Value: concern, Rationale: "As discussed in the team."}},
	}
}

func (e *assessEnv) start(t *testing.T, u *tma.User) *tma.Assessment {
	t.Helper()
	a, err := e.svc.Start(actorCtx(u), e.tenant.ID, e.kase.ID, "screen", 0)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return a
}

func (e *assessEnv) caseRisk(t *testing.T) tma.RiskLevel {
	t.Helper()
	c, err := e.cases.FindCase(actorCtx(e.lead), e.tenant.ID, e.kase.ID)
	if err != nil {
		t.Fatal(err)
	}
	return c.Risk
}

func TestCriticalItemNeedsSecondApprover(t *testing.T) {
	e := newAssessEnv(t)
	a := e.start(t, e.lead)
	if a.Status != tma.AssessmentDraft || a.Revision != 1 || a.PreviousID != "" || len(a.Ratings) != 0 || a.InstrumentVersion != 1 {
		t.Fatalf("started %+v", a)
	}

	// lead started it, lead2 submits it: a critical item present while the
	// concern is moderate.
	a, err := e.svc.Submit(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, a.ID, form(1, "yes", "moderate"), true)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != tma.AssessmentPending || a.Risk != tma.RiskModerate || a.FromRisk != tma.RiskUnrated || a.Revision != 2 ||
		!reflect.DeepEqual(a.Reasons, []string{"critical-below-high"}) || a.SubmittedBy != e.lead2.ID || a.SubmitterName != "lead2" ||
		a.AuthorName != "lead" || a.SubmittedAt.IsZero() || a.DecidedBy != "" {
		t.Fatalf("submitted %+v", a)
	}
	if got := e.caseRisk(t); got != tma.RiskUnrated {
		t.Fatalf("a pending assessment set the case's risk to %q", got)
	}
	_, err = e.svc.Decide(actorCtx(e.lead), e.tenant.ID, e.kase.ID, a.ID, true, true)
	wantCode(t, err, tma.EFORBIDDEN)
	_, err = e.svc.Decide(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, a.ID, true, true)
	wantCode(t, err, tma.EFORBIDDEN)
	// The table refuses it too.
	if _, err := e.db.Pool.Exec(context.Background(), `UPDATE assessments SET decided_by = created_by WHERE id = $1`, a.ID); err == nil {
		t.Fatal("the table lets the author decide")
	}
	// A threat manager who is no current member of the case cannot
	// approve either.
	if err := e.cases.RemoveMember(actorCtx(e.lead), e.tenant.ID, e.kase.ID, e.tm3.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Decide(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, a.ID, true, true)
	wantCode(t, err, tma.EFORBIDDEN)
	if err := e.cases.AddMember(actorCtx(e.lead), e.tenant.ID, e.kase.ID, tma.NewMember{Email: e.tm3.Email, Role: tma.CaseExpert}); err != nil {
		t.Fatal(err)
	}

	// Rejected: back to draft, same revision and content, submission cleared.
	r, err := e.svc.Decide(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, a.ID, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != tma.AssessmentDraft || r.Revision != 2 || r.SubmittedBy != "" || !r.SubmittedAt.IsZero() || r.Risk != "" || len(r.Reasons) != 0 ||
		r.Ratings["pathway"].Value != "yes" || r.Judgments["concern"].Rationale != "As discussed in the team." {
		t.Fatalf("rejected %+v", r)
	}
	_, err = e.svc.Decide(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, a.ID, true, true)
	wantCode(t, err, tma.ECONFLICT) // a draft is not pending

	// Submitted again and approved by a second threat manager: final, and
	// the judgment is the case's risk level.
	if a, err = e.svc.Submit(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, a.ID, form(2, "yes", "moderate"), true); err != nil || a.Status != tma.AssessmentPending {
		t.Fatalf("submitted again: %+v %v", a, err)
	}
	a, err = e.svc.Decide(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, a.ID, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != tma.AssessmentFinal || a.DecidedBy != e.tm3.ID || a.DeciderName != "Third Manager" || a.DecidedAt.IsZero() || a.Risk != tma.RiskModerate {
		t.Fatalf("approved %+v", a)
	}
	if got := e.caseRisk(t); got != tma.RiskModerate {
		t.Fatalf("case risk after approval = %q, want moderate", got)
	}
	_, err = e.svc.Decide(actorCtx(e.expert), e.tenant.ID, e.kase.ID, a.ID, false, true)
	wantCode(t, err, tma.ECONFLICT) // final never changes
	_, err = e.svc.Save(actorCtx(e.lead), e.tenant.ID, e.kase.ID, a.ID, form(3, "no", "low"), true)
	wantCode(t, err, tma.ECONFLICT)

	// Without the rule firing (and raising the risk), a submission is final
	// at once.
	e.clock.Add(time.Minute)
	b := e.start(t, e.lead)
	if b.PreviousID != a.ID {
		t.Fatalf("previous = %q, want %q", b.PreviousID, a.ID)
	}
	if b, err = e.svc.Submit(actorCtx(e.lead), e.tenant.ID, e.kase.ID, b.ID, form(1, "yes", "high"), true); err != nil {
		t.Fatal(err)
	}
	if b.Status != tma.AssessmentFinal || len(b.Reasons) != 0 || b.DecidedBy != "" || b.FromRisk != tma.RiskModerate || e.caseRisk(t) != tma.RiskHigh {
		t.Fatalf("final at once: %+v, case risk %q", b, e.caseRisk(t))
	}

	// Lowering the risk waits for a second approver, and an approval
	// after the case's risk changed meanwhile is refused.
	e.clock.Add(time.Minute)
	c := e.start(t, e.lead)
	if c, err = e.svc.Submit(actorCtx(e.lead), e.tenant.ID, e.kase.ID, c.ID, form(1, "no", "low"), true); err != nil {
		t.Fatal(err)
	}
	if c.Status != tma.AssessmentPending || !reflect.DeepEqual(c.Reasons, []string{tma.ReasonLowersRisk}) || e.caseRisk(t) != tma.RiskHigh {
		t.Fatalf("lowering: %+v", c)
	}
	if _, err := e.cases.SetState(actorCtx(e.lead), e.tenant.ID, e.kase.ID, tma.StatusAssessing, tma.RiskImminent); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Decide(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, c.ID, true, true)
	wantCode(t, err, tma.ECONFLICT)
	// The author withdraws it.
	if c, err = e.svc.Decide(actorCtx(e.lead), e.tenant.ID, e.kase.ID, c.ID, false, true); err != nil || c.Status != tma.AssessmentDraft {
		t.Fatalf("withdrawn: %+v %v", c, err)
	}

	count := map[string]int{}
	for _, ev := range e.events(t, "") {
		count[ev.Action]++
		if strings.Contains(ev.Detail, "depot") || strings.Contains(ev.Detail, "discussed") {
			t.Errorf("audit detail holds content: %q", ev.Detail)
		}
		if ev.Action == tma.AuditAssessmentApproved && ev.Detail != "assessment "+a.ID+" screen v1 critical-below-high, risk unrated→moderate" {
			t.Errorf("approved detail %q", ev.Detail)
		}
		if ev.Action == tma.AuditAssessmentSubmitted && strings.Contains(ev.Detail, b.ID) && ev.Detail != "assessment "+b.ID+" screen v1 final, risk moderate→high" {
			t.Errorf("final detail %q", ev.Detail)
		}
	}
	want := map[string]int{tma.AuditAssessmentStarted: 3, tma.AuditAssessmentSubmitted: 4, tma.AuditAssessmentApproved: 1, tma.AuditAssessmentRejected: 2}
	for action, n := range want {
		if count[action] != n {
			t.Errorf("%d %s events, want %d", count[action], action, n)
		}
	}
	rejected := e.events(t, tma.AuditAssessmentRejected)
	if len(rejected) != 2 || !slices.ContainsFunc(rejected, func(ev *tma.AuditEvent) bool { return strings.HasSuffix(ev.Detail, " withdrawn") }) {
		t.Errorf("rejections: %v", rejected)
	}
	list, err := e.svc.Assessments(actorCtx(e.expert), e.tenant.ID, e.kase.ID, true)
	if err != nil || len(list) != 3 || list[0].ID != a.ID || list[1].ID != b.ID || list[2].ID != c.ID {
		t.Fatalf("list: %v %v", list, err)
	}
}

func TestAssessmentSaveConflict(t *testing.T) {
	e := newAssessEnv(t)
	a := e.start(t, e.lead)
	_, err := e.svc.Start(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, "screen", 0)
	wantCode(t, err, tma.ECONFLICT) // one draft per case

	// Two saves from revision 1 at once: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, u := range []*tma.User{e.lead, e.lead2} {
		wg.Go(func() {
			_, errs[i] = e.svc.Save(actorCtx(u), e.tenant.ID, e.kase.ID, a.ID, form(1, "yes", ""), true)
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("concurrent saves: %v, %v", errs[0], errs[1])
	}
	for _, err := range errs {
		if err != nil {
			wantCode(t, err, tma.ECONFLICT)
		}
	}
	got, err := e.svc.Assessment(actorCtx(e.lead), e.tenant.ID, e.kase.ID, a.ID, true)
	if err != nil || got.Revision != 2 || got.Ratings["pathway"].Value != "yes" {
		t.Fatalf("after the saves: %+v %v", got, err)
	}
	// A stale save after that, and a stale submission.
	_, err = e.svc.Save(actorCtx(e.lead), e.tenant.ID, e.kase.ID, a.ID, form(1, "no", ""), true)
	wantCode(t, err, tma.ECONFLICT)
	_, err = e.svc.Submit(actorCtx(e.lead), e.tenant.ID, e.kase.ID, a.ID, form(1, "no", "high"), true)
	wantCode(t, err, tma.ECONFLICT)
	if got, err = e.svc.Save(actorCtx(e.lead), e.tenant.ID, e.kase.ID, a.ID, form(2, "no", ""), true); err != nil || got.Revision != 3 || got.Ratings["pathway"].Value != "no" {
		t.Fatalf("save from the current revision: %+v %v", got, err)
	}
	// Another case's id, another tenant's and no id at all are not found.
	other, err := e.cases.CreateCase(actorCtx(e.lead), e.tenant.ID, tma.NewCase{Title: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Save(actorCtx(e.lead), e.tenant.ID, other.ID, a.ID, form(3, "no", ""), true)
	wantCode(t, err, tma.ENOTFOUND)
	_, err = e.svc.Assessment(actorCtx(e.lead), e.tenant.ID, other.ID, a.ID, true)
	wantCode(t, err, tma.ENOTFOUND)
	_, err = e.svc.Start(actorCtx(e.lead), e.tenant.ID, e.kase.ID, "no-such-instrument", 0)
	wantCode(t, err, tma.ENOTFOUND)
	_, err = e.svc.Start(actorCtx(e.lead), e.tenant.ID, e.kase.ID, "screen", 7)
	wantCode(t, err, tma.ENOTFOUND)

	// Discard: drafts only.
	if err := e.svc.Discard(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.Discard(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, a.ID), tma.ENOTFOUND)
	b := e.start(t, e.lead)
	if _, err := e.svc.Submit(actorCtx(e.lead), e.tenant.ID, e.kase.ID, b.ID, form(1, "yes", "low"), true); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.Discard(actorCtx(e.lead), e.tenant.ID, e.kase.ID, b.ID), tma.ECONFLICT) // pending
	if n := len(e.events(t, tma.AuditAssessmentDiscarded)); n != 1 {
		t.Fatalf("%d discard events", n)
	}
}

func TestAssessmentInvalid(t *testing.T) {
	e := newAssessEnv(t)
	a := e.start(t, e.lead)
	ctx := actorCtx(e.lead)
	save := func(d tma.AssessmentInput) error {
		_, err := e.svc.Save(ctx, e.tenant.ID, e.kase.ID, a.ID, d, true)
		return err
	}
	// An item of another version (v2 adds "energy") is not in the pinned v1.
	v2 := assessScreen(2)
	v2.Sections[0].Items = append(v2.Sections[0].Items, tma.Item{ID: "energy", Name: "Energy burst", Kind: tma.ItemDynamic, Scale: "presence"})
	if _, err := e.insts.Import(ctx, e.tenant.ID, v2, []byte("v2")); err != nil {
		t.Fatal(err)
	}
	d := form(1, "yes", "")
	d.Ratings["energy"] = tma.Rating{Value: "yes"}
	err := save(d)
	wantCode(t, err, tma.EINVALID)
	if msg := tma.ErrorMessage(err); msg != `The item "energy" does not exist in version 1 of this instrument.` {
		t.Fatalf("message %q", msg)
	}

	// Submitting without the required rationale.
	d = form(1, "no", "low")
	d.Judgments["concern"] = tma.Judgment{Value: "low"}
	_, err = e.svc.Submit(ctx, e.tenant.ID, e.kase.ID, a.ID, d, true)
	wantCode(t, err, tma.EINVALID)
	// Submitting with an item not rated.
	d = form(1, "", "low")
	_, err = e.svc.Submit(ctx, e.tenant.ID, e.kase.ID, a.ID, d, true)
	wantCode(t, err, tma.EINVALID)

	// Links: a note and a document of this case are fine; another case's
	// note, an id that exists nowhere and a malformed id fail alike.
	mine, err := e.notes.AddNote(ctx, e.tenant.ID, e.kase.ID, tma.NoteInput{Title: "Visit", Body: "At the gate."})
	if err != nil {
		t.Fatal(err)
	}
	doc := e.upload(t, e.lead, "", "photo.txt", "text/plain", []byte("a photo, as text"))
	other, err := e.cases.CreateCase(ctx, e.tenant.ID, tma.NewCase{Title: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := e.notes.AddNote(ctx, e.tenant.ID, other.ID, tma.NoteInput{Title: "Elsewhere", Body: "Another case."})
	if err != nil {
		t.Fatal(err)
	}
	linked := func(rev int, links ...string) tma.AssessmentInput {
		d := form(rev, "yes", "")
		r := d.Ratings["fixation"]
		r.Links = links
		d.Ratings["fixation"] = r
		return d
	}
	var msgs []string
	for _, bad := range [][]string{{mine.ID, theirs.ID}, {tma.NewID()}, {"note-1"}} {
		err := save(linked(1, bad...))
		wantCode(t, err, tma.EINVALID)
		msgs = append(msgs, tma.ErrorMessage(err))
	}
	if msgs[0] != msgs[1] || msgs[1] != msgs[2] || msgs[0] != `A link of the item "Fixation" is not a note or document of this case.` {
		t.Fatalf("link messages differ or are wrong: %q", msgs)
	}
	got, err := e.svc.Save(ctx, e.tenant.ID, e.kase.ID, a.ID, linked(1, mine.ID, doc.DocumentID, mine.ID), true)
	if err != nil || got.Revision != 2 || !reflect.DeepEqual(got.Ratings["fixation"].Links, []string{mine.ID, doc.DocumentID, mine.ID}) {
		t.Fatalf("links of this case: %+v %v", got, err)
	}
}

func TestAssessmentContentSealed(t *testing.T) {
	e := newAssessEnv(t)
	a := e.start(t, e.lead)
	const secret = "zqxjvortex lives at Hauptstraße 5"
	d := form(1, "yes", "high")
	d.Judgments["concern"] = tma.Judgment{Value: "high", Rationale: secret}
	r := d.Ratings["fixation"]
	r.Evidence = secret
	d.Ratings["fixation"] = r
	if _, err := e.svc.Submit(actorCtx(e.lead), e.tenant.ID, e.kase.ID, a.ID, d, true); err != nil {
		t.Fatal(err)
	}
	var content []byte
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT content FROM assessments WHERE id = $1`, a.ID).Scan(&content); err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{"zqxjvortex", "Hauptstra", "fixation", "ratings", "depot"} {
		if bytes.Contains(content, []byte(plain)) {
			t.Errorf("the sealed content holds %q in clear", plain)
		}
	}
	got, err := e.svc.Assessment(actorCtx(e.expert), e.tenant.ID, e.kase.ID, a.ID, true)
	if err != nil || got.Judgments["concern"].Rationale != secret || got.Ratings["fixation"].Evidence != secret {
		t.Fatalf("opened: %+v %v", got, err)
	}
	// The sealing is bound to its revision: the same bytes do not open as
	// another revision.
	if _, err := e.db.Pool.Exec(context.Background(), `UPDATE assessments SET revision = revision + 1 WHERE id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Assessment(actorCtx(e.expert), e.tenant.ID, e.kase.ID, a.ID, true)
	wantCode(t, err, tma.ECORRUPT)
}

func TestAssessmentClosedCase(t *testing.T) {
	e := newAssessEnv(t)
	a := e.start(t, e.lead)
	b, err := e.svc.Save(actorCtx(e.lead), e.tenant.ID, e.kase.ID, a.ID, form(1, "yes", ""), true)
	if err != nil {
		t.Fatal(err)
	}
	// Closing needs four eyes.
	req, err := e.cases.SetState(actorCtx(e.lead), e.tenant.ID, e.kase.ID, tma.StatusClosed, tma.RiskUnrated)
	if err != nil || req == nil {
		t.Fatalf("close: %v %v", req, err)
	}
	if err := e.cases.DecideApproval(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, req.ID, true); err != nil {
		t.Fatal(err)
	}
	ctx := actorCtx(e.lead)
	_, err = e.svc.Save(ctx, e.tenant.ID, e.kase.ID, a.ID, form(b.Revision, "no", ""), true)
	wantCode(t, err, tma.ECONFLICT)
	_, err = e.svc.Submit(ctx, e.tenant.ID, e.kase.ID, a.ID, form(b.Revision, "no", "high"), true)
	wantCode(t, err, tma.ECONFLICT)
	wantCode(t, e.svc.Discard(ctx, e.tenant.ID, e.kase.ID, a.ID), tma.ECONFLICT)
	other, err := e.cases.CreateCase(ctx, e.tenant.ID, tma.NewCase{Title: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	// A closed case with no assessment refuses a start too; so does this one.
	_, err = e.svc.Start(ctx, e.tenant.ID, e.kase.ID, "screen", 0)
	wantCode(t, err, tma.ECONFLICT)
	if _, err := e.svc.Start(ctx, e.tenant.ID, other.ID, "screen", 0); err != nil {
		t.Fatalf("an open case: %v", err)
	}
	// Reading still works.
	if got, err := e.svc.Assessment(actorCtx(e.expert), e.tenant.ID, e.kase.ID, a.ID, true); err != nil || got.Ratings["pathway"].Value != "yes" {
		t.Fatalf("reading a closed case's assessment: %+v %v", got, err)
	}
}

func TestAssessmentCarryOver(t *testing.T) {
	e := newAssessEnv(t)
	ctx := actorCtx(e.lead)
	a := e.start(t, e.lead)
	d := form(1, "yes", "high")
	d.Ratings["fixation"] = tma.Rating{Value: "unknown", Rationale: "Nobody asked yet."}
	if a, err := e.svc.Submit(ctx, e.tenant.ID, e.kase.ID, a.ID, d, true); err != nil || a.Status != tma.AssessmentFinal {
		t.Fatalf("first: %+v %v", a, err)
	}
	// v2 drops "grievance", adds "energy" and rates "fixation" on a scale
	// without "unknown".
	v2 := assessScreen(2)
	v2.Scales = append(v2.Scales, tma.Scale{ID: "binary", Values: []tma.ScaleValue{{Code: "no", Label: "No"}, {Code: "yes", Label: "Yes", Present: true}}})
	v2.Sections[0].Items[1].Scale = "binary"
	v2.Sections[0].Items = append(v2.Sections[0].Items, tma.Item{ID: "energy", Name: "Energy burst", Kind: tma.ItemDynamic, Scale: "presence"})
	v2.Sections[1].Items[0] = tma.Item{ID: "affiliation", Name: "Failure to affiliate", Kind: tma.ItemStatic, Scale: "presence"}
	if _, err := e.insts.Import(ctx, e.tenant.ID, v2, []byte("v2")); err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.Start(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, "screen", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]tma.Rating{"pathway": form(1, "yes", "").Ratings["pathway"]}
	if b.InstrumentVersion != 2 || b.PreviousID != a.ID || !reflect.DeepEqual(b.Ratings, want) || len(b.Judgments) != 0 {
		t.Fatalf("started from v1: %+v", b)
	}
	got, err := e.svc.Assessment(ctx, e.tenant.ID, e.kase.ID, b.ID, true)
	if err != nil || !reflect.DeepEqual(got.Ratings, want) {
		t.Fatalf("stored carry-over: %+v %v", got, err)
	}
	// The diff between them, as the page will show it.
	prevInst, _ := e.insts.Instrument(ctx, e.tenant.ID, "screen", 1)
	prev, _ := e.svc.Assessment(ctx, e.tenant.ID, e.kase.ID, a.ID, true)
	changes := tma.DiffAssessments(prevInst, prev, v2, got)
	var kinds []string
	for _, c := range changes {
		kinds = append(kinds, c.ItemID+":"+string(c.Change))
	}
	if w := []string{"pathway:same", "fixation:value", "energy:added", "affiliation:added", "grievance:removed"}; !reflect.DeepEqual(kinds, w) {
		t.Fatalf("diff %v, want %v", kinds, w)
	}
	events := e.events(t, tma.AuditAssessmentStarted)
	if len(events) != 2 || events[0].Detail != "assessment "+b.ID+" screen v2" { // newest first
		t.Fatalf("start events: %v", events)
	}
}
