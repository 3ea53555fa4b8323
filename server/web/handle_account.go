package web

import (
	"encoding/base64"
	"html/template"

	"github.com/gofiber/fiber/v2"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/tma-portal/tma/server/tma"
)

type accountData struct {
	Sessions []*tma.Session
	Current  string
}

func (s *Server) accountView(c *fiber.Ctx) (*view, error) {
	p := principal(c)
	sessions, err := s.deps.Auth.ListSessions(c.UserContext(), p.Tenant.ID, p.User.ID)
	if err != nil {
		return nil, err
	}
	return s.newView(c, "account.title", "account", accountData{Sessions: sessions, Current: p.Session.ID}), nil
}

// renderAccount shows the account page with the outcome of a form.
func (s *Server) renderAccount(c *fiber.Ctx, err error, notice string) error {
	v, verr := s.accountView(c)
	if verr != nil {
		return verr
	}
	return s.outcome(c, v, "account", err, notice)
}

func (s *Server) handleAccountPage(c *fiber.Ctx) error {
	return s.renderAccount(c, nil, "")
}

func (s *Server) handlePasswordChange(c *fiber.Ctx) error {
	if bodyValue(c, "new") != bodyValue(c, "confirm") {
		return s.renderAccount(c, tma.Errorf(tma.EINVALID, "The new passwords do not match."), "")
	}
	res, err := s.deps.Auth.ChangePassword(c.UserContext(), principal(c).Token, bodyValue(c, "current"), bodyValue(c, "new"))
	if err != nil {
		return s.renderAccount(c, err, "")
	}
	s.setSessionCookie(c, res.Token)
	principal(c).Token = res.Token // the rest of this request uses the new session
	return s.renderAccount(c, nil, "account.password.changed")
}

func (s *Server) handleLanguageChange(c *fiber.Ctx) error {
	p := principal(c)
	loc := bodyValue(c, "locale")
	err := s.deps.Users.SetLocale(c.UserContext(), p.Tenant.ID, p.User.ID, loc)
	if err == nil {
		// The new language applies to this very response.
		p.User.Locale = loc
		c.Locals(localLocale, loc)
		if loc == "" {
			c.Locals(localLocale, negotiateLocale(c.Get(fiber.HeaderAcceptLanguage)))
		}
	}
	return s.renderAccount(c, err, "account.language.saved")
}

func (s *Server) handleLogoutEverywhere(c *fiber.Ctx) error {
	p := principal(c)
	if err := s.deps.Auth.LogoutEverywhere(c.UserContext(), p.Tenant.ID, p.User.ID); err != nil {
		return err
	}
	s.clearSessionCookie(c)
	return c.Redirect("/login?ended=1", fiber.StatusSeeOther)
}

type mfaEnrolData struct {
	Enabled  bool
	Required bool
	Secret   string
	QR       template.URL // data: URL of a PNG we made; trusted
	Recovery []string
}

// mfaEnrolView shows the set-up page: the pending secret as a QR code and
// as text. BeginTOTP keeps a pending secret, so a page shown again after a
// mistyped code still matches what the user scanned.
func (s *Server) mfaEnrolView(c *fiber.Ctx) (*view, error) {
	p := principal(c)
	d := mfaEnrolData{Enabled: p.User.MFAEnabled, Required: p.Tenant.RequireMFA}
	if !d.Enabled {
		enr, err := s.deps.Auth.BeginTOTP(c.UserContext(), p.Tenant.ID, p.User.ID)
		if err != nil {
			return nil, err
		}
		png, err := qrcode.Encode(enr.URL, qrcode.Medium, 240)
		if err != nil {
			return nil, tma.Wrap("mfaEnrolView", err)
		}
		d.Secret, d.QR = enr.Secret, template.URL("data:image/png;base64,"+base64.StdEncoding.EncodeToString(png))
	}
	return s.newView(c, "mfa.enrol.title", "account", d), nil
}

func (s *Server) handleMFAEnrolPage(c *fiber.Ctx) error {
	v, err := s.mfaEnrolView(c)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "mfa_enrol", v)
}

func (s *Server) handleMFAEnrol(c *fiber.Ctx) error {
	codes, res, err := s.deps.Auth.ConfirmTOTP(c.UserContext(), principal(c).Token, bodyValue(c, "password"), bodyValue(c, "code"))
	if code := tma.ErrorCode(err); code == tma.EINVALID || code == tma.ECONFLICT {
		v, verr := s.mfaEnrolView(c)
		if verr != nil {
			return verr
		}
		return s.outcome(c, v, "mfa_enrol", err, "")
	} else if err != nil {
		return err
	}
	s.setSessionCookie(c, res.Token)
	p := principal(c)
	p.Token, p.User.MFAEnabled = res.Token, true
	return s.render(c, fiber.StatusOK, "mfa_enrol", s.newView(c, "mfa.enrol.title", "account", mfaEnrolData{Enabled: true, Recovery: codes}))
}

func (s *Server) handleMFARemove(c *fiber.Ctx) error {
	p := principal(c)
	err := s.deps.Auth.RemoveTOTP(c.UserContext(), p.Token, bodyValue(c, "password"))
	if err == nil {
		p.User.MFAEnabled = false
	}
	return s.renderAccount(c, err, "account.mfa.removed")
}
