package web

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

type auditData struct {
	Events []*tma.AuditEvent
	Action string
	Before int64 // the page starts below this seq; 0 for the newest
	Next   int64 // seq for the next (older) page; 0 if none
	Verify *verifyResult
}

type verifyResult struct {
	OK      bool
	Checked int
	Broken  *tma.ChainError
}

func (s *Server) auditFilter(c *fiber.Ctx) tma.AuditFilter {
	before, _ := strconv.ParseInt(c.Query("before"), 10, 64)
	limit, _ := strconv.Atoi(c.Query("limit"))
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	return tma.AuditFilter{Action: c.Query("action"), Before: before, Limit: limit}
}

func (s *Server) auditView(c *fiber.Ctx) (*view, error) {
	f := s.auditFilter(c)
	events, err := s.deps.Audit.FindAuditEvents(c.UserContext(), principal(c).Tenant.ID, f)
	if err != nil {
		return nil, err
	}
	d := auditData{Events: events, Action: f.Action, Before: f.Before}
	if len(events) == f.Limit {
		d.Next = events[len(events)-1].Seq
	}
	return s.newView(c, "audit.title", "audit", &d), nil
}

func (s *Server) handleAuditPage(c *fiber.Ctx) error {
	v, err := s.auditView(c)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "audit", v)
}

// handleAuditVerify walks the tenant's hash chain and shows the result. A
// broken chain is itself recorded, so the finding cannot go unnoticed.
func (s *Server) handleAuditVerify(c *fiber.Ctx) error {
	p := principal(c)
	n, verr := s.deps.Audit.VerifyChain(c.UserContext(), p.Tenant.ID)
	res := &verifyResult{OK: verr == nil, Checked: n}
	if verr != nil && !errors.As(verr, &res.Broken) {
		return verr
	}
	v, err := s.auditView(c)
	if err != nil {
		return err
	}
	v.Data.(*auditData).Verify = res
	return s.render(c, fiber.StatusOK, "audit", v)
}
