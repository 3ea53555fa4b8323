package web

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

func (s *Server) handleHealthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// handleReadyz is 503 until the database answers and its schema is current,
// so a load balancer sends no traffic to a process that cannot serve.
func (s *Server) handleReadyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	if err := s.deps.Ready(ctx); err != nil {
		logger(c).Warn("not ready", "err", err)
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "reason": tma.ErrorMessage(err)})
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

// handleAsset serves embedded static files. URLs carry a content hash, so
// they can be cached for a year.
func (s *Server) handleAsset(c *fiber.Ctx) error {
	f, ok := s.pages.static[c.Params("name")]
	if !ok {
		return tma.Errorf(tma.ENOTFOUND, "This page does not exist.")
	}
	if c.Query("v") == f.hash {
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		c.Set(fiber.HeaderCacheControl, "no-cache")
	}
	c.Set(fiber.HeaderContentType, f.contentType)
	return c.Send(f.body)
}

type loginData struct {
	Tenant, Email, Next string
}

func (s *Server) handleLoginPage(c *fiber.Ctx) error {
	if p := principal(c); p != nil && !p.Session.MFAPending {
		return c.Redirect("/", fiber.StatusSeeOther)
	}
	v := s.newView(c, "login.title", "", loginData{Tenant: s.cfg.DefaultTenant, Next: safeNext(c.Query("next"))})
	if c.Locals(localExpired) != nil || c.Query("ended") != "" {
		v.Notice = v.T("login.ended")
	}
	return s.render(c, fiber.StatusOK, "login", v)
}

// safeNext accepts only plain local paths, so the login cannot redirect
// off-site. Browsers drop tabs and newlines from URLs and treat "\\" as
// "/", so anything but the characters of our own paths is refused.
func safeNext(next string) string {
	if len(next) > 200 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return ""
	}
	for _, r := range next {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-_.", r)) {
			return ""
		}
	}
	return next
}

func (s *Server) handleLogin(c *fiber.Ctx) error {
	d := loginData{Tenant: bodyValue(c, "tenant"), Email: bodyValue(c, "email"), Next: safeNext(bodyValue(c, "next"))}
	// A new sign-in always gets a new session: end the old one first.
	if old := c.Cookies(s.sessionCookie()); old != "" {
		if err := s.deps.Auth.Logout(c.UserContext(), old); err != nil {
			return err
		}
		s.clearSessionCookie(c)
	}
	res, err := s.deps.Auth.Login(c.UserContext(), tma.LoginRequest{
		Tenant: d.Tenant, Email: d.Email, Password: bodyValue(c, "password"), IP: clientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent),
		Device: c.Cookies(s.deviceCookie()),
	})
	if err != nil {
		switch code := tma.ErrorCode(err); code {
		case tma.EUNAUTHORIZED, tma.ETHROTTLED, tma.EINVALID:
			c.Locals(localPrincipal, nil)
			v := s.newView(c, "login.title", "", d)
			v.Error = v.msg(err)
			return s.render(c, statusOf[code], "login", v)
		}
		return err
	}
	s.setSessionCookie(c, res.Token)
	s.setDeviceCookie(c, res.Device)
	if res.Session.MFAPending {
		return c.Redirect("/login/mfa"+nextQuery(d.Next), fiber.StatusSeeOther)
	}
	return c.Redirect(orRoot(d.Next), fiber.StatusSeeOther)
}

// setDeviceCookie keeps a known-device token, if the sign-in made one: this
// browser's later attempts count on their own, so a stranger's lockout of
// the account does not keep it out.
func (s *Server) setDeviceCookie(c *fiber.Ctx, device string) {
	if device == "" {
		return
	}
	c.Cookie(&fiber.Cookie{
		Name: s.deviceCookie(), Value: device, Path: "/", MaxAge: 180 * 24 * 3600,
		HTTPOnly: true, Secure: s.secure(), SameSite: fiber.CookieSameSiteStrictMode,
	})
}

func nextQuery(next string) string {
	if next == "" {
		return ""
	}
	return "?next=" + next
}

func orRoot(next string) string {
	if next == "" {
		return "/"
	}
	return next
}

func (s *Server) handleMFAPage(c *fiber.Ctx) error {
	return s.render(c, fiber.StatusOK, "mfa", s.newView(c, "mfa.title", "", loginData{Next: safeNext(c.Query("next"))}))
}

func (s *Server) handleMFA(c *fiber.Ctx) error {
	next := safeNext(bodyValue(c, "next"))
	res, err := s.deps.Auth.VerifyMFA(c.UserContext(), principal(c).Token, bodyValue(c, "code"), clientIP(c))
	if err != nil {
		switch code := tma.ErrorCode(err); code {
		case tma.EUNAUTHORIZED, tma.ETHROTTLED:
			v := s.newView(c, "mfa.title", "", loginData{Next: next})
			v.Error = v.msg(err)
			return s.render(c, statusOf[code], "mfa", v)
		}
		return err
	}
	s.setSessionCookie(c, res.Token)
	s.setDeviceCookie(c, res.Device)
	return c.Redirect(orRoot(next), fiber.StatusSeeOther)
}

func (s *Server) handleLogout(c *fiber.Ctx) error {
	if err := s.deps.Auth.Logout(c.UserContext(), principal(c).Token); err != nil {
		return err
	}
	s.clearSessionCookie(c)
	return c.Redirect("/login?ended=1", fiber.StatusSeeOther)
}

// dashboardData is what the dashboard shows, already in the reader's
// language: plain fields keep the template cheap.
type dashboardData struct {
	Heading string
	Roles   []string
	MFA     bool
	// What the tiles link to, as the user's permissions allow.
	Reports, Intake, Cases bool
}

// handleDashboard shows the three steps, each linking to what the user
// may open. It reads nothing from the database beyond the session (see
// TestOneQueryPerPage): the counts of cases by risk level are on the
// cases page.
func (s *Server) handleDashboard(c *fiber.Ctx) error {
	v := s.newView(c, "dashboard.title", "dashboard", nil)
	p := v.Principal
	u := p.User
	can := func(perm tma.Permission) bool { return s.deps.Authz.Can(u, perm) }
	d := dashboardData{Heading: v.T("dashboard.heading", u.DisplayName), MFA: u.MFAEnabled,
		Reports: can(tma.PermReportsFile), Intake: can(tma.PermReportsTriage), Cases: can(tma.PermCasesRead)}
	for _, r := range u.Roles {
		d.Roles = append(d.Roles, v.T("role."+string(r)))
	}
	v.Data = d
	return s.render(c, fiber.StatusOK, "dashboard", v)
}
