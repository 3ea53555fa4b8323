package postgres_test

import (
	"context"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// TestAssessmentEditorCannotApprove checks that whoever saved ratings or
// judgments into an assessment cannot approve it: four eyes means the
// approver wrote none of it. tm3 lowers the concern in lead's draft and
// lead2 submits it; and tm3 rejects a submission, edits the draft and has
// lead2 submit it again.
func TestAssessmentEditorCannotApprove(t *testing.T) {
	e := newAssessEnv(t)
	a := e.start(t, e.lead)
	if _, err := e.svc.Save(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, a.ID, form(1, "yes", "moderate"), true); err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.Submit(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, a.ID, form(2, "yes", "moderate"), true)
	if err != nil || a.Status != tma.AssessmentPending {
		t.Fatalf("submitted: %+v %v", a, err)
	}
	_, err = e.svc.Decide(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, a.ID, true, true)
	wantCode(t, err, tma.EFORBIDDEN)
	// The table refuses it too.
	if _, err := e.db.Pool.Exec(context.Background(), `UPDATE assessments SET status = 'final', decided_by = $2, decided_at = now() WHERE id = $1`,
		a.ID, e.tm3.ID); err == nil {
		t.Fatal("the table lets an editor decide")
	}

}

// TestAssessmentRejecterWhoEditsCannotApprove checks the same for a
// second approver who rejects a submission, edits the draft and, after
// someone else submits it again, would approve their own edits.
func TestAssessmentRejecterWhoEditsCannotApprove(t *testing.T) {
	e := newAssessEnv(t)
	a := e.start(t, e.lead)
	a, err := e.svc.Submit(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, a.ID, form(1, "yes", "high"), true)
	if err != nil || a.Status != tma.AssessmentFinal {
		t.Fatalf("first: %+v %v", a, err)
	}
	c := e.start(t, e.lead)
	if c, err = e.svc.Submit(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, c.ID, form(1, "no", "moderate"), true); err != nil || c.Status != tma.AssessmentPending {
		t.Fatalf("lowering: %+v %v", c, err)
	}
	// tm3 rejects it, lowers the concern further, and lead2 submits again.
	if c, err = e.svc.Decide(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, c.ID, false, true); err != nil {
		t.Fatal(err)
	}
	if c, err = e.svc.Save(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, c.ID, form(c.Revision, "no", "low"), true); err != nil {
		t.Fatal(err)
	}
	if c, err = e.svc.Submit(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, c.ID, form(c.Revision, "no", "low"), true); err != nil || c.Status != tma.AssessmentPending {
		t.Fatalf("submitted again: %+v %v", c, err)
	}
	_, err = e.svc.Decide(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, c.ID, true, true)
	wantCode(t, err, tma.EFORBIDDEN)
	if got := e.caseRisk(t); got != tma.RiskHigh {
		t.Fatalf("case risk %q after a refused approval", got)
	}
	// Someone who wrote none of it may approve.
	if c, err = e.svc.Decide(actorCtx(e.expert), e.tenant.ID, e.kase.ID, c.ID, true, true); err != nil || c.Status != tma.AssessmentFinal || e.caseRisk(t) != tma.RiskLow {
		t.Fatalf("approved by the expert: %+v %v", c, err)
	}
}

// TestAssessmentTableRefusesBrokenStates checks that the table itself
// keeps the invariants the service keeps: an assessment that needed a
// second approver is final only with one; only a final one has a
// decider; a submitted one names its submitter; its previous assessment is
// one of the same case; and its people are users of its tenant.
func TestAssessmentTableRefusesBrokenStates(t *testing.T) {
	e := newAssessEnv(t)
	ctx := context.Background()
	a := e.start(t, e.lead)
	a, err := e.svc.Submit(actorCtx(e.lead), e.tenant.ID, e.kase.ID, a.ID, form(1, "yes", "moderate"), true)
	if err != nil || a.Status != tma.AssessmentPending {
		t.Fatalf("submitted: %+v %v", a, err)
	}
	other, err := e.cases.CreateCase(actorCtx(e.lead), e.tenant.ID, tma.NewCase{Title: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	o := func() *tma.Assessment {
		o, err := e.svc.Start(actorCtx(e.lead), e.tenant.ID, other.ID, "screen", 0)
		if err != nil {
			t.Fatal(err)
		}
		if o, err = e.svc.Submit(actorCtx(e.lead), e.tenant.ID, other.ID, o.ID, form(1, "no", "high"), true); err != nil || o.Status != tma.AssessmentFinal {
			t.Fatalf("other case: %+v %v", o, err)
		}
		return o
	}()
	_, _, _, stranger := e.newTenant(t, "globex")
	for _, tc := range []struct {
		name string
		sql  string
		args []any
	}{
		{"final without the second approver it needs", `UPDATE assessments SET status = 'final' WHERE id = $1`, []any{a.ID}},
		{"a decider on a pending assessment", `UPDATE assessments SET decided_by = $2, decided_at = now() WHERE id = $1`, []any{a.ID, e.tm3.ID}},
		{"submitted without a submitter", `UPDATE assessments SET submitted_by = NULL WHERE id = $1`, []any{a.ID}},
		{"a previous assessment of another case", `UPDATE assessments SET previous_id = $2 WHERE id = $1`, []any{a.ID, o.ID}},
		{"an author of another tenant", `UPDATE assessments SET created_by = $2 WHERE id = $1`, []any{a.ID, stranger.ID}},
		{"an approver of another tenant", `UPDATE assessments SET status = 'final', decided_by = $2, decided_at = now() WHERE id = $1`, []any{a.ID, stranger.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.db.Pool.Exec(ctx, tc.sql, tc.args...); err == nil {
				t.Fatal("the table accepts it")
			}
		})
	}
}

// TestPinnedInstrumentVersionNeverChanges checks that the table keeps an
// instrument version as it was imported: assessments are pinned to it,
// and a new version must never change an old assessment.
func TestPinnedInstrumentVersionNeverChanges(t *testing.T) {
	e := newAssessEnv(t)
	e.start(t, e.lead)
	ctx := context.Background()
	for _, sql := range []string{
		`UPDATE instruments SET definition = jsonb_set(definition, '{title}', '"Changed"') WHERE tenant_id = $1 AND id = 'screen'`,
		`UPDATE instruments SET version = 2 WHERE tenant_id = $1 AND id = 'screen'`,
		`DELETE FROM instruments WHERE tenant_id = $1 AND id = 'screen'`,
	} {
		if _, err := e.db.Pool.Exec(ctx, sql, e.tenant.ID); err == nil {
			t.Errorf("the table accepts %s", sql)
		}
	}
	inst, err := e.insts.Instrument(actorCtx(e.lead), e.tenant.ID, "screen", 1)
	if err != nil || inst.Title != "Screen" {
		t.Fatalf("version 1 now: %+v %v", inst, err)
	}
}

// TestInstrumentVersionBeyondIntegerNotFound checks that a version number
// the table cannot hold (from an address) is not found, not an internal
// error, and that such a version is refused as invalid on import.
func TestInstrumentVersionBeyondIntegerNotFound(t *testing.T) {
	e := newAssessEnv(t)
	ctx := actorCtx(e.lead)
	_, err := e.insts.Instrument(ctx, e.tenant.ID, "screen", 1<<40)
	wantCode(t, err, tma.ENOTFOUND)
	_, err = e.insts.Source(ctx, e.tenant.ID, "screen", 1<<40)
	wantCode(t, err, tma.ENOTFOUND)
	_, err = e.svc.Start(ctx, e.tenant.ID, e.kase.ID, "screen", 1<<40)
	wantCode(t, err, tma.ENOTFOUND)
	_, err = e.insts.Import(ctx, e.tenant.ID, assessScreen(1<<40), []byte("big"))
	wantCode(t, err, tma.EINVALID)
}
