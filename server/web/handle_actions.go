package web

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

// formAction reads an action form: countermeasure, owner, due date, status
// and outcome.
func formAction(c *fiber.Ctx) (tma.ActionInput, error) {
	due, err := tma.ParseDay("due", bodyValue(c, "due"))
	return tma.ActionInput{Title: bodyValue(c, "title"), OwnerID: bodyValue(c, "owner"), Due: due,
		Status: tma.ActionStatus(bodyValue(c, "status")), Outcome: bodyValue(c, "outcome")}, err
}

func (s *Server) handleActionAdd(c *fiber.Ctx) error {
	return s.caseAction(c, "case.action.added", func(tenantID, caseID string) error {
		in, err := formAction(c)
		if err != nil {
			return err
		}
		_, err = s.deps.Actions.AddAction(c.UserContext(), tenantID, caseID, in)
		return err
	})
}

func (s *Server) handleActionChange(c *fiber.Ctx) error {
	return s.caseAction(c, "case.action.changed", func(tenantID, caseID string) error {
		in, err := formAction(c)
		if err != nil {
			return err
		}
		return s.deps.Actions.ChangeAction(c.UserContext(), tenantID, caseID, c.Params("action"), in)
	})
}

type tasksData struct {
	Tasks []*tma.Action
	Now   time.Time
}

// handleTasksPage lists the user's open actions on the cases they belong
// to (current membership, no exclusion).
func (s *Server) handleTasksPage(c *fiber.Ctx) error {
	p := principal(c)
	tasks, err := s.deps.Actions.MyTasks(c.UserContext(), p.Tenant.ID, p.User.ID)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "tasks", s.newView(c, "tasks.title", "tasks", tasksData{Tasks: tasks, Now: time.Now()}))
}

type timelineData struct {
	Case   *tma.Case
	Events []*tma.TimelineEvent
	Kind   string
}

// handleTimelinePage shows the case's events, oldest first, filtered by
// ?kind=.
func (s *Server) handleTimelinePage(c *fiber.Ctx) error {
	p := principal(c)
	ctx, tenantID, caseID := c.UserContext(), p.Tenant.ID, c.Params("id")
	kase, err := s.deps.Cases.FindCase(ctx, tenantID, caseID)
	if err != nil {
		return err
	}
	kind := c.Query("kind")
	events, err := s.deps.Cases.Timeline(ctx, tenantID, caseID, kind)
	if err != nil {
		return err
	}
	v := s.newView(c, "timeline.title", "cases", timelineData{Case: kase, Events: events, Kind: kind})
	v.TitleArg = kase.Reference
	return s.render(c, fiber.StatusOK, "timeline", v)
}
