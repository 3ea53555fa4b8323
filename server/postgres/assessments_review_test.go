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
	if _, err := e.svc.Save(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, a.ID, form(1, "yes", "moderate")); err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.Submit(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, a.ID, form(2, "yes", "moderate"))
	if err != nil || a.Status != tma.AssessmentPending {
		t.Fatalf("submitted: %+v %v", a, err)
	}
	_, err = e.svc.Decide(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, a.ID, true)
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
	a, err := e.svc.Submit(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, a.ID, form(1, "yes", "high"))
	if err != nil || a.Status != tma.AssessmentFinal {
		t.Fatalf("first: %+v %v", a, err)
	}
	c := e.start(t, e.lead)
	if c, err = e.svc.Submit(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, c.ID, form(1, "no", "moderate")); err != nil || c.Status != tma.AssessmentPending {
		t.Fatalf("lowering: %+v %v", c, err)
	}
	// tm3 rejects it, lowers the concern further, and lead2 submits again.
	if c, err = e.svc.Decide(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, c.ID, false); err != nil {
		t.Fatal(err)
	}
	if c, err = e.svc.Save(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, c.ID, form(c.Revision, "no", "low")); err != nil {
		t.Fatal(err)
	}
	if c, err = e.svc.Submit(actorCtx(e.lead2), e.tenant.ID, e.kase.ID, c.ID, form(c.Revision, "no", "low")); err != nil || c.Status != tma.AssessmentPending {
		t.Fatalf("submitted again: %+v %v", c, err)
	}
	_, err = e.svc.Decide(actorCtx(e.tm3), e.tenant.ID, e.kase.ID, c.ID, true)
	wantCode(t, err, tma.EFORBIDDEN)
	if got := e.caseRisk(t); got != tma.RiskHigh {
		t.Fatalf("case risk %q after a refused approval", got)
	}
	// Someone who wrote none of it may approve.
	if c, err = e.svc.Decide(actorCtx(e.expert), e.tenant.ID, e.kase.ID, c.ID, true); err != nil || c.Status != tma.AssessmentFinal || e.caseRisk(t) != tma.RiskLow {
		t.Fatalf("approved by the expert: %+v %v", c, err)
	}
}
