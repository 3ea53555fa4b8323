package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

// formReport reads a report form.
func formReport(c *fiber.Ctx) tma.NewReport {
	nr := tma.NewReport{
		Content: tma.ReportContent{What: bodyValue(c, "what"), When: bodyValue(c, "when"), Where: bodyValue(c, "where"), Who: bodyValue(c, "who")},
		Urgency: tma.Urgency(bodyValue(c, "urgency")),
		Named:   bodyValues(c, "named"),
	}
	for _, cat := range bodyValues(c, "categories") {
		nr.Categories = append(nr.Categories, tma.Category(cat))
	}
	return nr
}

// bodyValues returns every value of a form field (URL-encoded body).
func bodyValues(c *fiber.Ctx, key string) []string {
	var out []string
	for _, v := range c.Request().PostArgs().PeekMulti(key) {
		out = append(out, string(v))
	}
	return out
}

type reportFormData struct {
	Form   tma.NewReport
	People []*tma.User // whom a signed-in reporter may name
	Tenant *tma.Tenant // the anonymous page's tenant
}

type reportData struct {
	Report   *tma.Report
	Messages []*tma.ReportMessage
	Code     string      // the anonymous mailbox: the code, to answer again
	Tenant   *tma.Tenant // the anonymous mailbox's tenant
	Cases    []*tma.Case // intake: cases the report could be merged into
}

// handleReportsPage lists the user's own reports, nothing else.
func (s *Server) handleReportsPage(c *fiber.Ctx) error {
	reports, err := s.deps.Reports.MyReports(c.UserContext(), principal(c).Tenant.ID)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "reports", s.newView(c, "reports.title", "reports", reports))
}

func (s *Server) reportNewView(c *fiber.Ctx, nr tma.NewReport) (*view, error) {
	p := principal(c)
	users, err := s.deps.Users.FindUsers(c.UserContext(), p.Tenant.ID)
	if err != nil {
		return nil, err
	}
	var people []*tma.User
	for _, u := range users {
		if u.ID != p.User.ID && !u.Disabled {
			people = append(people, u)
		}
	}
	return s.newView(c, "report.new.title", "reports", reportFormData{Form: nr, People: people}), nil
}

func (s *Server) handleReportNewPage(c *fiber.Ctx) error {
	v, err := s.reportNewView(c, tma.NewReport{Urgency: tma.UrgencyMedium})
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "report_new", v)
}

func (s *Server) handleReportFile(c *fiber.Ctx) error {
	nr := formReport(c)
	r, err := s.deps.Reports.File(c.UserContext(), principal(c).Tenant.ID, nr)
	if err == nil {
		return c.Redirect("/reports/"+r.ID+"?filed=1", fiber.StatusSeeOther)
	}
	v, verr := s.reportNewView(c, nr)
	if verr != nil {
		return verr
	}
	return s.outcome(c, v, "report_new", err, "")
}

func (s *Server) ownReportView(c *fiber.Ctx) (*view, error) {
	r, msgs, err := s.deps.Reports.MyReport(c.UserContext(), principal(c).Tenant.ID, c.Params("id"))
	if err != nil {
		return nil, err
	}
	return s.newView(c, "report.title", "reports", reportData{Report: r, Messages: msgs}), nil
}

func (s *Server) handleReportPage(c *fiber.Ctx) error {
	v, err := s.ownReportView(c)
	if err != nil {
		return err
	}
	if c.Query("filed") != "" {
		v.Notice = v.T("report.filed")
	}
	return s.render(c, fiber.StatusOK, "report", v)
}

func (s *Server) handleReportMessage(c *fiber.Ctx) error {
	aerr := s.deps.Reports.AddToMyReport(c.UserContext(), principal(c).Tenant.ID, c.Params("id"), bodyValue(c, "text"))
	if tma.ErrorCode(aerr) == tma.ENOTFOUND {
		return aerr
	}
	v, err := s.ownReportView(c)
	if err != nil {
		return err
	}
	return s.outcome(c, v, "report", aerr, "report.message.sent")
}

// senderTags are the rate-limit tags of anonymous reporters: an HMAC of
// the client address under a random key that lives only in this process's
// memory and is replaced every day. The throttle table holds the tag, never
// the address, and yesterday's tags cannot be linked to anyone.
type senderTags struct {
	mu  sync.Mutex
	day int64
	key [32]byte
}

func (s *Server) senderTag(c *fiber.Ctx) string {
	t := &s.tags
	day := time.Now().Unix() / 86400
	t.mu.Lock()
	if t.day != day {
		_, _ = rand.Read(t.key[:])
		t.day = day
	}
	m := hmac.New(sha256.New, t.key[:])
	t.mu.Unlock()
	m.Write([]byte(clientIP(c)))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

const localAnonTenant = "tma.anon.tenant"

// anonymous runs h as an anonymous report page of the tenant in the URL.
// These routes come before the session middleware: a session cookie the
// browser may carry is not even read, the actor has no user and no
// address, and no cookie is set (the view makes no CSRF token). Instead of
// a token, unsafe requests must not come from another site: browsers say
// where a request comes from in Sec-Fetch-Site and Origin, and a request
// without them is no browser's cross-site request. There is nothing to
// forge anyway: these pages act on no account and no stored session.
func (s *Server) anonymous(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Locals(localAnonymous, true)
		if c.Method() == fiber.MethodPost {
			site := c.Get("Sec-Fetch-Site")
			origin := c.Get(fiber.HeaderOrigin)
			u, perr := url.Parse(origin)
			if (site != "" && site != "same-origin" && site != "none") ||
				(origin != "" && (perr != nil || u.Host != string(c.Request().Host()))) {
				return tma.Errorf(tma.EFORBIDDEN, "The form has expired or did not come from this site. Reload the page and try again.")
			}
		}
		slug := c.Params("tenant")
		if !tma.ValidSlug(slug) {
			return tma.Errorf(tma.ENOTFOUND, "This page does not exist.")
		}
		t, err := s.deps.Tenants.FindTenantBySlug(c.UserContext(), slug)
		if tma.ErrorCode(err) == tma.ENOTFOUND {
			return tma.Errorf(tma.ENOTFOUND, "This page does not exist.")
		} else if err != nil {
			return err
		}
		c.Locals(localAnonTenant, t)
		c.SetUserContext(tma.NewContextWithActor(c.UserContext(), tma.Actor{TenantID: t.ID, Label: "anonymous reporter"}))
		return h(c)
	}
}

func anonTenant(c *fiber.Ctx) *tma.Tenant {
	t, _ := c.Locals(localAnonTenant).(*tma.Tenant)
	return t
}

func (s *Server) handleAnonReportPage(c *fiber.Ctx) error {
	v := s.newView(c, "report.anon.title", "", reportFormData{Form: tma.NewReport{Urgency: tma.UrgencyMedium}, Tenant: anonTenant(c)})
	return s.render(c, fiber.StatusOK, "report_anon", v)
}

func (s *Server) handleAnonReportFile(c *fiber.Ctx) error {
	t := anonTenant(c)
	nr := formReport(c)
	_, code, err := s.deps.Reports.FileAnonymous(c.UserContext(), t.ID, nr, s.senderTag(c))
	if err == nil {
		v := s.newView(c, "report.receipt.title", "", reportData{Code: code, Tenant: t})
		return s.render(c, fiber.StatusOK, "report_receipt", v)
	}
	v := s.newView(c, "report.anon.title", "", reportFormData{Form: nr, Tenant: t})
	return s.anonOutcome(c, v, "report_anon", err)
}

// anonOutcome shows the page again with the error for refusals a reporter
// can act on: bad input, a wrong code, too many attempts.
func (s *Server) anonOutcome(c *fiber.Ctx, v *view, page string, err error) error {
	switch code := tma.ErrorCode(err); code {
	case tma.EINVALID, tma.EUNAUTHORIZED, tma.ETHROTTLED, tma.ECONFLICT:
		v.Error = v.msg(err)
		return s.render(c, statusOf[code], page, v)
	}
	return err
}

func (s *Server) handleMailboxPage(c *fiber.Ctx) error {
	return s.render(c, fiber.StatusOK, "mailbox", s.newView(c, "mailbox.title", "", reportData{Tenant: anonTenant(c)}))
}

// mailboxView opens the mailbox of the code in the form.
func (s *Server) mailboxView(c *fiber.Ctx) (*view, error) {
	t, code := anonTenant(c), bodyValue(c, "code")
	r, msgs, err := s.deps.Reports.Mailbox(c.UserContext(), t.ID, code, s.senderTag(c))
	if err != nil {
		return s.newView(c, "mailbox.title", "", reportData{Tenant: t}), err
	}
	return s.newView(c, "mailbox.title", "", reportData{Report: r, Messages: msgs, Code: code, Tenant: t}), nil
}

func (s *Server) handleMailbox(c *fiber.Ctx) error {
	v, err := s.mailboxView(c)
	if err != nil {
		return s.anonOutcome(c, v, "mailbox", err)
	}
	return s.render(c, fiber.StatusOK, "mailbox", v)
}

func (s *Server) handleMailboxReply(c *fiber.Ctx) error {
	t := anonTenant(c)
	aerr := s.deps.Reports.AnswerMailbox(c.UserContext(), t.ID, bodyValue(c, "code"), s.senderTag(c), bodyValue(c, "text"))
	switch tma.ErrorCode(aerr) {
	case tma.EUNAUTHORIZED, tma.ETHROTTLED:
		return s.anonOutcome(c, s.newView(c, "mailbox.title", "", reportData{Tenant: t}), "mailbox", aerr)
	}
	v, err := s.mailboxView(c)
	if err != nil {
		return s.anonOutcome(c, v, "mailbox", err)
	}
	if aerr != nil {
		return s.anonOutcome(c, v, "mailbox", aerr)
	}
	v.Notice = v.T("report.message.sent")
	return s.render(c, fiber.StatusOK, "mailbox", v)
}
