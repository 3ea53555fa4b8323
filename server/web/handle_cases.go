package web

import (
	"html/template"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

type casesData struct {
	Cases     []*tma.Case
	CanCreate bool
	// The list's filter, from the query: ?risk=<level> keeps the cases at
	// that risk level, ?open=1 leaves closed cases out (the dashboard's
	// counts link here with both).
	Risk     tma.RiskLevel
	Open     bool
	Filtered bool
	// Counts are the user's open cases by risk level, all of them (the
	// list stops at 500).
	Counts []riskCount
}

// riskCount is the number of the user's open cases at one risk level.
type riskCount struct {
	Level tma.RiskLevel
	Count int
}

// riskCounts orders counts as tma.RiskLevels, a level without cases
// counting 0.
func riskCounts(counts map[tma.RiskLevel]int) []riskCount {
	out := make([]riskCount, len(tma.RiskLevels))
	for i, l := range tma.RiskLevels {
		out[i] = riskCount{Level: l, Count: counts[l]}
	}
	return out
}

// handleCasesPage lists the user's own cases: only cases of which they are
// a current member and from which they are not excluded, filtered by risk
// level and status if the query asks (an unknown level filters nothing).
func (s *Server) handleCasesPage(c *fiber.Ctx) error {
	p := principal(c)
	cases, err := s.deps.Cases.MyCases(c.UserContext(), p.Tenant.ID, p.User.ID)
	if err != nil {
		return err
	}
	// The counts come from the user's own cases (MyRiskCounts: current
	// memberships without an exclusion, as MyCases, but all of them), so
	// they count nothing the user could not open, and reveal nothing about
	// other cases of the tenant.
	counts, err := s.deps.Cases.MyRiskCounts(c.UserContext(), p.Tenant.ID, p.User.ID)
	if err != nil {
		return err
	}
	d := casesData{CanCreate: s.deps.Authz.Can(p.User, tma.PermCasesCreate), Open: c.Query("open") == "1", Counts: riskCounts(counts)}
	if r := tma.RiskLevel(c.Query("risk")); r.Valid() {
		d.Risk = r
	}
	d.Filtered = d.Open || d.Risk != ""
	for _, k := range cases {
		risk := k.Risk
		if risk == "" {
			risk = tma.RiskUnrated
		}
		if (d.Risk == "" || risk == d.Risk) && (!d.Open || k.Status != tma.StatusClosed) {
			d.Cases = append(d.Cases, k)
		}
	}
	return s.render(c, fiber.StatusOK, "cases", s.newView(c, "cases.title", "cases", d))
}

type caseNewData struct {
	Form   tma.NewCase
	Labels string
}

func (s *Server) handleCaseNewPage(c *fiber.Ctx) error {
	return s.render(c, fiber.StatusOK, "case_new", s.newView(c, "case.new.title", "cases", caseNewData{}))
}

func (s *Server) handleCaseCreate(c *fiber.Ctx) error {
	nc := tma.NewCase{Title: bodyValue(c, "title"), Risk: tma.RiskLevel(bodyValue(c, "risk")), Labels: tma.ParseLabels(bodyValue(c, "labels"))}
	created, err := s.deps.Cases.CreateCase(c.UserContext(), principal(c).Tenant.ID, nc)
	if err == nil {
		return c.Redirect("/cases/"+created.ID, fiber.StatusSeeOther)
	}
	v := s.newView(c, "case.new.title", "cases", caseNewData{Form: nc, Labels: bodyValue(c, "labels")})
	return s.outcome(c, v, "case_new", err, "")
}

type caseData struct {
	Case       *tma.Case
	Members    []*tma.CaseMember
	Exclusions []*tma.CaseExclusion
	Notes      []*tma.Note
	Actions    []*tma.Action
	Approvals  []*tma.Approval
	Persons    []*tma.Person
	Documents  []*tma.Document
	// DocumentNames names the documents that pending deletions are about.
	DocumentNames map[string]string
	Role          tma.CaseRole // the viewer's case role
	Manage        bool         // the viewer may change status, risk, members and exclusions
	Contribute    bool         // the viewer may write notes and actions
	TakeOver      bool         // the viewer may take over the case from a lead who hands it over
	Restricted    bool         // the viewer may read restricted (Art. 9/10) notes
	Closed        bool         // the case is read-only until reopened
	UserID        string       // the viewer
	Now           time.Time
	// WikiPages are the process pages the case uses that the viewer may
	// read; WikiChoices the pages a contributor may link it to.
	WikiPages   []*tma.WikiChange
	WikiChoices []*tma.WikiChange
	// Assessments of the case, newest first, with their instruments'
	// titles (by "id"); Open is the one in the works (draft or pending),
	// if any. AssessWrite: the viewer may start and rate assessments;
	// AssessApprove: the viewer may be the second approver.
	// InstrumentChoices are the versions a new assessment may use, newest
	// first, and RiskChart the risk over time of the final assessments.
	Assessments      []*tma.Assessment
	InstrumentTitles map[string]string
	Open             *tma.Assessment
	AssessWrite      bool
	AssessApprove    bool
	// ApproveOpen: the viewer may approve the pending assessment (an
	// instrument with restricted items needs an approver who reads them).
	ApproveOpen       bool
	InstrumentChoices []*tma.InstrumentInfo
	RiskChart         template.HTML
}

// caseRights fills what the viewer may do on the case in the URL.
func (s *Server) caseRights(c *fiber.Ctx, d *caseData) {
	p := principal(c)
	roles := caseAccess(c).Roles(d.Now)
	d.Role, d.UserID = caseAccess(c).Role, p.User.ID
	d.Manage = s.deps.Authz.CanCase(p.User, roles, tma.PermCasesWrite, tma.CasePermManage)
	d.Contribute = s.deps.Authz.CanCase(p.User, roles, tma.PermCasesContribute, tma.CasePermContribute)
	d.TakeOver = s.deps.Authz.CanCase(p.User, roles, tma.PermCasesWrite, tma.CasePermRead)
	d.Restricted = tma.CanReadRestricted(s.deps.Authz, p.User, roles)
}

// caseView loads the case in the URL, which authorizeCase let through.
func (s *Server) caseView(c *fiber.Ctx) (*view, error) {
	p := principal(c)
	ctx, tenantID, caseID := c.UserContext(), p.Tenant.ID, c.Params("id")
	kase, err := s.deps.Cases.FindCase(ctx, tenantID, caseID)
	if err != nil {
		return nil, err
	}
	members, err := s.deps.Cases.Members(ctx, tenantID, caseID)
	if err != nil {
		return nil, err
	}
	exclusions, err := s.deps.Cases.Exclusions(ctx, tenantID, caseID)
	if err != nil {
		return nil, err
	}
	d := caseData{Case: kase, Members: members, Exclusions: exclusions, Now: time.Now(), Closed: kase.Status == tma.StatusClosed}
	s.caseRights(c, &d)
	if d.Notes, err = s.deps.Notes.Notes(ctx, tenantID, caseID, d.Restricted); err != nil {
		return nil, err
	}
	if d.Actions, err = s.deps.Actions.Actions(ctx, tenantID, caseID); err != nil {
		return nil, err
	}
	if d.Approvals, err = s.deps.Cases.Approvals(ctx, tenantID, caseID); err != nil {
		return nil, err
	}
	if d.Persons, err = s.deps.Persons.Persons(ctx, tenantID, caseID); err != nil {
		return nil, err
	}
	if d.Documents, err = s.deps.Documents.Documents(ctx, tenantID, caseID); err != nil {
		return nil, err
	}
	if d.WikiPages, err = s.deps.Wiki.CasePages(ctx, tenantID, caseID, p.User); err != nil {
		return nil, err
	}
	if d.Contribute && s.deps.Authz.Can(p.User, tma.PermWikiRead) {
		spaces, err := s.deps.Wiki.Spaces(ctx, tenantID, p.User)
		if err != nil {
			return nil, err
		}
		for _, sp := range spaces {
			pages, err := s.deps.Wiki.Pages(ctx, tenantID, sp.Slug, p.User)
			if err != nil {
				return nil, err
			}
			d.WikiChoices = append(d.WikiChoices, pages...)
		}
	}
	if err := s.caseAssessments(c, &d); err != nil {
		return nil, err
	}
	d.DocumentNames = map[string]string{}
	for _, doc := range d.Documents {
		if doc.Latest != nil {
			d.DocumentNames[doc.ID] = doc.Latest.Name
		}
	}
	v := s.newView(c, "case.title", "cases", d)
	v.TitleArg = kase.Reference
	return v, nil
}

func (s *Server) handleCasePage(c *fiber.Ctx) error {
	v, err := s.caseView(c)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "case", v)
}

// caseAction runs act on the case in the URL and shows the case page with
// the outcome. A case that vanished meanwhile is not found.
func (s *Server) caseAction(c *fiber.Ctx, notice string, act func(tenantID, caseID string) error) error {
	aerr := act(principal(c).Tenant.ID, c.Params("id"))
	if tma.ErrorCode(aerr) == tma.ENOTFOUND {
		return aerr
	}
	v, err := s.caseView(c)
	if err != nil {
		return err
	}
	return s.outcome(c, v, "case", aerr, notice)
}

// handleCaseState changes status and risk, or files a four-eyes request
// when the change closes the case or lowers its risk.
func (s *Server) handleCaseState(c *fiber.Ctx) error {
	status, risk := tma.CaseStatus(bodyValue(c, "status")), tma.RiskLevel(bodyValue(c, "risk"))
	pending, aerr := s.deps.Cases.SetState(c.UserContext(), principal(c).Tenant.ID, c.Params("id"), status, risk)
	if tma.ErrorCode(aerr) == tma.ENOTFOUND {
		return aerr
	}
	v, err := s.caseView(c)
	if err != nil {
		return err
	}
	notice := "case.state.saved"
	if pending != nil {
		notice = "case.state.requested"
	}
	return s.outcome(c, v, "case", aerr, notice)
}

func (s *Server) handleApprovalApprove(c *fiber.Ctx) error {
	return s.caseAction(c, "case.approval.approved", func(tenantID, caseID string) error {
		return s.deps.Cases.DecideApproval(c.UserContext(), tenantID, caseID, c.Params("approval"), true)
	})
}

func (s *Server) handleApprovalReject(c *fiber.Ctx) error {
	return s.caseAction(c, "case.approval.rejected", func(tenantID, caseID string) error {
		return s.deps.Cases.DecideApproval(c.UserContext(), tenantID, caseID, c.Params("approval"), false)
	})
}

func (s *Server) handleHandoverRequest(c *fiber.Ctx) error {
	return s.caseAction(c, "case.handover.requested", func(tenantID, caseID string) error {
		_, err := s.deps.Cases.RequestHandover(c.UserContext(), tenantID, caseID)
		return err
	})
}

func (s *Server) handleHandoverAccept(c *fiber.Ctx) error {
	return s.caseAction(c, "case.handover.accepted", func(tenantID, caseID string) error {
		return s.deps.Cases.AcceptHandover(c.UserContext(), tenantID, caseID, c.Params("approval"))
	})
}

func (s *Server) handlePersonAdd(c *fiber.Ctx) error {
	return s.caseAction(c, "case.person.added", func(tenantID, caseID string) error {
		in := tma.PersonInput{Kind: tma.PersonKind(bodyValue(c, "kind")), Name: bodyValue(c, "name"), Note: bodyValue(c, "note"), Email: bodyValue(c, "email")}
		_, err := s.deps.Persons.AddPerson(c.UserContext(), tenantID, caseID, in)
		return err
	})
}

func (s *Server) handlePersonRemove(c *fiber.Ctx) error {
	return s.caseAction(c, "case.person.removed", func(tenantID, caseID string) error {
		return s.deps.Persons.RemovePerson(c.UserContext(), tenantID, caseID, c.Params("person"))
	})
}

// formMember reads a member form: role and an expiry date.
func formMember(c *fiber.Ctx) (tma.NewMember, error) {
	expires, err := tma.ParseExpiry(bodyValue(c, "expires"))
	return tma.NewMember{Email: bodyValue(c, "email"), UserID: c.Params("user"), Role: tma.CaseRole(bodyValue(c, "role")), ExpiresAt: expires}, err
}

func (s *Server) handleCaseMemberAdd(c *fiber.Ctx) error {
	return s.caseAction(c, "case.member.added", func(tenantID, caseID string) error {
		m, err := formMember(c)
		if err != nil {
			return err
		}
		return s.deps.Cases.AddMember(c.UserContext(), tenantID, caseID, m)
	})
}

func (s *Server) handleCaseMemberChange(c *fiber.Ctx) error {
	return s.caseAction(c, "case.member.changed", func(tenantID, caseID string) error {
		m, err := formMember(c)
		if err != nil {
			return err
		}
		return s.deps.Cases.ChangeMember(c.UserContext(), tenantID, caseID, m)
	})
}

func (s *Server) handleCaseMemberRemove(c *fiber.Ctx) error {
	return s.caseAction(c, "case.member.removed", func(tenantID, caseID string) error {
		return s.deps.Cases.RemoveMember(c.UserContext(), tenantID, caseID, c.Params("user"))
	})
}

func (s *Server) handleCaseExclude(c *fiber.Ctx) error {
	return s.caseAction(c, "case.excluded", func(tenantID, caseID string) error {
		return s.deps.Cases.Exclude(c.UserContext(), tenantID, caseID, bodyValue(c, "email"))
	})
}

func (s *Server) handleCaseExclusionLift(c *fiber.Ctx) error {
	return s.caseAction(c, "case.exclusion.lifted", func(tenantID, caseID string) error {
		return s.deps.Cases.LiftExclusion(c.UserContext(), tenantID, caseID, c.Params("user"))
	})
}

// caseAssessments fills the assessments part of the case page.
func (s *Server) caseAssessments(c *fiber.Ctx, d *caseData) error {
	if s.deps.Assessments == nil || s.deps.Instruments == nil {
		return nil
	}
	p := principal(c)
	ctx, tenantID := c.UserContext(), p.Tenant.ID
	as, err := s.deps.Assessments.Assessments(ctx, tenantID, d.Case.ID, d.Restricted)
	if err != nil {
		return err
	}
	slices.Reverse(as)
	d.Assessments = as
	for _, a := range as {
		if a.Status != tma.AssessmentFinal {
			d.Open = a
		}
	}
	d.AssessWrite, d.AssessApprove = s.assessRights(c, d.Now)
	d.ApproveOpen = d.AssessApprove
	if o := d.Open; o != nil && o.Status == tma.AssessmentPending && d.AssessApprove && !d.Restricted {
		// The second approver must read everything the judgment rests on.
		inst, err := s.deps.Instruments.Instrument(ctx, tenantID, o.InstrumentID, o.InstrumentVersion)
		if err != nil {
			return err
		}
		d.ApproveOpen = !inst.HasRestricted()
	}
	if len(as) == 0 && !d.AssessWrite {
		return nil
	}
	infos, err := s.deps.Instruments.Instruments(ctx, tenantID)
	if err != nil {
		return err
	}
	d.InstrumentTitles = map[string]string{}
	for _, in := range infos {
		if _, ok := d.InstrumentTitles[in.ID]; !ok {
			d.InstrumentTitles[in.ID] = in.Title
		}
	}
	if d.AssessWrite && d.Open == nil && !d.Closed {
		d.InstrumentChoices = infos
	}
	d.RiskChart, err = s.riskChart(c, as)
	return err
}
