package web

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

// handleIntakePage is the threat managers' queue of pending reports,
// without reports that name the viewer.
func (s *Server) handleIntakePage(c *fiber.Ctx) error {
	reports, err := s.deps.Reports.Queue(c.UserContext(), principal(c).Tenant.ID)
	if err != nil {
		return err
	}
	v := s.newView(c, "intake.title", "intake", reports)
	if c.Query("dismissed") != "" {
		v.Notice = v.T("intake.dismissed")
	}
	return s.render(c, fiber.StatusOK, "intake", v)
}

func (s *Server) intakeView(c *fiber.Ctx) (*view, error) {
	p := principal(c)
	ctx := c.UserContext()
	r, msgs, err := s.deps.Reports.Triage(ctx, p.Tenant.ID, c.Params("id"))
	if err != nil {
		return nil, err
	}
	cases, err := s.deps.Cases.MyCases(ctx, p.Tenant.ID, p.User.ID)
	if err != nil {
		return nil, err
	}
	return s.newView(c, "intake.report.title", "intake", reportData{Report: r, Messages: msgs, Cases: cases}), nil
}

func (s *Server) handleIntakeReportPage(c *fiber.Ctx) error {
	v, err := s.intakeView(c)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "intake_report", v)
}

// intakeAction runs act on the report in the URL; on success it goes to
// where act says, else it shows the report with the outcome.
func (s *Server) intakeAction(c *fiber.Ctx, notice string, act func(tenantID, reportID string) (string, error)) error {
	to, aerr := act(principal(c).Tenant.ID, c.Params("id"))
	if tma.ErrorCode(aerr) == tma.ENOTFOUND {
		return aerr
	}
	if aerr == nil && to != "" {
		return c.Redirect(to, fiber.StatusSeeOther)
	}
	v, err := s.intakeView(c)
	if err != nil {
		return err
	}
	return s.outcome(c, v, "intake_report", aerr, notice)
}

func (s *Server) handleIntakeAsk(c *fiber.Ctx) error {
	return s.intakeAction(c, "intake.asked", func(tenantID, reportID string) (string, error) {
		return "", s.deps.Reports.Ask(c.UserContext(), tenantID, reportID, bodyValue(c, "text"))
	})
}

func (s *Server) handleIntakeOpen(c *fiber.Ctx) error {
	return s.intakeAction(c, "", func(tenantID, reportID string) (string, error) {
		nc := tma.NewCase{Title: bodyValue(c, "title"), Risk: tma.RiskLevel(bodyValue(c, "risk")), Labels: tma.ParseLabels(bodyValue(c, "labels"))}
		kase, err := s.deps.Reports.Open(c.UserContext(), tenantID, reportID, nc)
		if err != nil {
			return "", err
		}
		return "/cases/" + kase.ID, nil
	})
}

// handleIntakeMerge attaches the report to a case the user may manage
// (the same decision as a case route's, and the service checks again). A
// case they may not manage answers like a missing one.
func (s *Server) handleIntakeMerge(c *fiber.Ctx) error {
	return s.intakeAction(c, "", func(tenantID, reportID string) (string, error) {
		p := principal(c)
		caseID := bodyValue(c, "case")
		if err := tma.CheckText("case", caseID); err != nil {
			return "", err
		}
		a, err := s.deps.Cases.Access(c.UserContext(), tenantID, p.User.ID, caseID)
		if err != nil {
			return "", err
		}
		if !s.deps.Authz.CanCase(p.User, a.Roles(time.Now()), tma.PermCasesWrite, tma.CasePermManage) {
			return "", tma.Errorf(tma.EINVALID, "Choose a case that you lead.")
		}
		kase, err := s.deps.Reports.Merge(c.UserContext(), tenantID, reportID, caseID)
		if tma.ErrorCode(err) == tma.ENOTFOUND && kase == nil {
			if _, _, terr := s.deps.Reports.Triage(c.UserContext(), tenantID, reportID); terr == nil {
				return "", tma.Errorf(tma.EINVALID, "Choose a case that you lead.") // the case, not the report, is missing
			}
		}
		if err != nil {
			return "", err
		}
		return "/cases/" + kase.ID, nil
	})
}

func (s *Server) handleIntakeDismiss(c *fiber.Ctx) error {
	return s.intakeAction(c, "", func(tenantID, reportID string) (string, error) {
		return "/intake?dismissed=1", s.deps.Reports.Dismiss(c.UserContext(), tenantID, reportID, bodyValue(c, "reason"))
	})
}
