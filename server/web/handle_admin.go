package web

import (
	"github.com/gofiber/fiber/v2"
	"slices"
	"strings"

	"github.com/tma-portal/tma/server/tma"
)

type usersData struct {
	Users []*tma.User
	Form  tma.NewUser
}

// formRoles reads the checked role boxes of a form.
func formRoles(c *fiber.Ctx) []tma.Role {
	var roles []tma.Role
	for _, r := range tma.Roles {
		if bodyValue(c, "role_"+string(r)) == "on" {
			roles = append(roles, r)
		}
	}
	return roles
}

func (s *Server) usersView(c *fiber.Ctx, form tma.NewUser) (*view, error) {
	users, err := s.deps.Users.FindUsers(c.UserContext(), principal(c).Tenant.ID)
	if err != nil {
		return nil, err
	}
	form.Password = ""
	return s.newView(c, "users.title", "users", usersData{Users: users, Form: form}), nil
}

func (s *Server) handleUsersPage(c *fiber.Ctx) error {
	v, err := s.usersView(c, tma.NewUser{})
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "users", v)
}

func (s *Server) handleUserCreate(c *fiber.Ctx) error {
	nu := tma.NewUser{
		Email: bodyValue(c, "email"), DisplayName: bodyValue(c, "name"), Password: bodyValue(c, "password"),
		Locale: bodyValue(c, "locale"), Roles: formRoles(c),
	}
	_, cerr := s.deps.Users.CreateUser(c.UserContext(), principal(c).Tenant.ID, nu)
	if cerr == nil {
		nu = tma.NewUser{}
	}
	v, err := s.usersView(c, nu)
	if err != nil {
		return err
	}
	return s.outcome(c, v, "users", cerr, "users.created")
}

type userData struct {
	User     *tma.User
	Sessions []*tma.Session
	Self     bool
}

// userView loads a user of the caller's tenant. A user of another tenant
// is not found, exactly like a user that does not exist.
func (s *Server) userView(c *fiber.Ctx) (*view, error) {
	p := principal(c)
	u, err := s.deps.Users.FindUserByID(c.UserContext(), p.Tenant.ID, c.Params("id"))
	if err != nil {
		return nil, err
	}
	sessions, err := s.deps.Auth.ListSessions(c.UserContext(), p.Tenant.ID, u.ID)
	if err != nil {
		return nil, err
	}
	return s.newView(c, "user.title", "users", userData{User: u, Sessions: sessions, Self: u.ID == p.User.ID}), nil
}

func (s *Server) handleUserPage(c *fiber.Ctx) error {
	v, err := s.userView(c)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "user", v)
}

// userAction runs act on the user in the URL and shows the user page.
func (s *Server) userAction(c *fiber.Ctx, notice string, act func(tenantID, userID string) error) error {
	// act fails with ENOTFOUND for a user of another tenant, which then
	// reaches the error handler like any unknown user.
	aerr := act(principal(c).Tenant.ID, c.Params("id"))
	if tma.ErrorCode(aerr) == tma.ENOTFOUND {
		return aerr
	}
	v, err := s.userView(c)
	if err != nil {
		return err
	}
	return s.outcome(c, v, "user", aerr, notice)
}

func (s *Server) handleUserRoles(c *fiber.Ctx) error {
	return s.userAction(c, "user.roles.saved", func(tenantID, userID string) error {
		return s.deps.Users.SetRoles(c.UserContext(), tenantID, userID, formRoles(c))
	})
}

func (s *Server) handleUserPasswordReset(c *fiber.Ctx) error {
	return s.userAction(c, "user.password.reset", func(tenantID, userID string) error {
		return s.deps.Users.ResetPassword(c.UserContext(), tenantID, userID, bodyValue(c, "password"))
	})
}

func (s *Server) handleUserRevoke(c *fiber.Ctx) error {
	return s.userAction(c, "user.sessions.revoked", func(tenantID, userID string) error {
		return s.deps.Auth.RevokeSessions(c.UserContext(), tenantID, userID)
	})
}

func (s *Server) handleUserUnlock(c *fiber.Ctx) error {
	return s.userAction(c, "user.lockout.lifted", func(tenantID, userID string) error {
		return s.deps.Users.LiftLockout(c.UserContext(), tenantID, userID)
	})
}

func (s *Server) handleUserStatus(c *fiber.Ctx) error {
	disable := bodyValue(c, "disabled") == "true"
	return s.userAction(c, "user.status.saved", func(tenantID, userID string) error {
		return s.deps.Users.SetDisabled(c.UserContext(), tenantID, userID, disable)
	})
}

// settingsData is the settings page: the tenant, and its document type
// allow-list as the textarea shows it (one type a line; the defaults if
// the tenant has none of its own).
type settingsData struct {
	*tma.Tenant
	DocumentTypes string
}

func newSettingsData(t *tma.Tenant) settingsData {
	types := t.DocumentTypes
	if len(types) == 0 {
		types = tma.DefaultDocumentTypes
	}
	return settingsData{Tenant: t, DocumentTypes: strings.Join(types, "\n")}
}

func (s *Server) handleSettingsPage(c *fiber.Ctx) error {
	return s.render(c, fiber.StatusOK, "settings", s.newView(c, "settings.title", "settings", newSettingsData(principal(c).Tenant)))
}

// handleSettingsChange saves one of the settings forms: security (the
// default) or the document types (section=documents).
func (s *Server) handleSettingsChange(c *fiber.Ctx) error {
	p := principal(c)
	var err error
	if bodyValue(c, "section") == "documents" {
		types := strings.FieldsFunc(bodyValue(c, "document_types"), func(r rune) bool { return r == '\n' || r == '\r' || r == ',' })
		for i := range types {
			types[i] = strings.TrimSpace(types[i])
		}
		types = slices.DeleteFunc(types, func(t string) bool { return t == "" })
		if slices.Equal(types, tma.DefaultDocumentTypes) {
			types = nil // the defaults, and they follow future defaults
		}
		if err = s.deps.Tenants.SetDocumentTypes(c.UserContext(), p.Tenant.ID, types); err == nil {
			p.Tenant.DocumentTypes = types
		}
	} else {
		on := bodyValue(c, "require_mfa") == "on"
		if err = s.deps.Tenants.SetRequireMFA(c.UserContext(), p.Tenant.ID, on); err == nil {
			p.Tenant.RequireMFA = on
		}
	}
	return s.outcome(c, s.newView(c, "settings.title", "settings", newSettingsData(p.Tenant)), "settings", err, "settings.saved")
}
