package web

import (
	"encoding/hex"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

// apiUser is the JSON form of a user; it never carries secrets.
type apiUser struct {
	ID          string     `json:"id"`
	Email       string     `json:"email"`
	DisplayName string     `json:"display_name"`
	Locale      string     `json:"locale"`
	Roles       []tma.Role `json:"roles"`
	MFAEnabled  bool       `json:"mfa_enabled"`
	Disabled    bool       `json:"disabled"`
	CreatedAt   time.Time  `json:"created_at"`
}

func toAPIUser(u *tma.User) apiUser {
	roles := u.Roles
	if roles == nil {
		roles = []tma.Role{}
	}
	return apiUser{ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Locale: u.Locale, Roles: roles,
		MFAEnabled: u.MFAEnabled, Disabled: u.Disabled, CreatedAt: u.CreatedAt}
}

func (s *Server) handleAPIMe(c *fiber.Ctx) error {
	p := principal(c)
	return c.JSON(fiber.Map{"user": toAPIUser(p.User), "tenant": fiber.Map{"id": p.Tenant.ID, "slug": p.Tenant.Slug, "name": p.Tenant.Name}})
}

func (s *Server) handleAPIUsers(c *fiber.Ctx) error {
	users, err := s.deps.Users.FindUsers(c.UserContext(), principal(c).Tenant.ID)
	if err != nil {
		return err
	}
	out := make([]apiUser, len(users))
	for i, u := range users {
		out[i] = toAPIUser(u)
	}
	return c.JSON(fiber.Map{"users": out})
}

func (s *Server) handleAPIUser(c *fiber.Ctx) error {
	u, err := s.deps.Users.FindUserByID(c.UserContext(), principal(c).Tenant.ID, c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(toAPIUser(u))
}

// bodyJSON decodes a JSON body with a clear error for bad input.
func bodyJSON(c *fiber.Ctx, v any) error {
	if err := c.BodyParser(v); err != nil {
		return tma.Errorf(tma.EINVALID, "The request body is not valid JSON of the expected shape.")
	}
	return nil
}

func (s *Server) handleAPIUserCreate(c *fiber.Ctx) error {
	var in struct {
		Email       string     `json:"email"`
		DisplayName string     `json:"display_name"`
		Password    string     `json:"password"`
		Locale      string     `json:"locale"`
		Roles       []tma.Role `json:"roles"`
	}
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	u, err := s.deps.Users.CreateUser(c.UserContext(), principal(c).Tenant.ID, tma.NewUser{
		Email: in.Email, DisplayName: in.DisplayName, Password: in.Password, Locale: in.Locale, Roles: in.Roles,
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(toAPIUser(u))
}

func (s *Server) handleAPIUserRoles(c *fiber.Ctx) error {
	var in struct {
		Roles []tma.Role `json:"roles"`
	}
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	p := principal(c)
	if err := s.deps.Users.SetRoles(c.UserContext(), p.Tenant.ID, c.Params("id"), in.Roles); err != nil {
		return err
	}
	return s.handleAPIUser(c)
}

type apiAuditEvent struct {
	ID         int64     `json:"id"`
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	ActorID    string    `json:"actor_id,omitempty"`
	ActorLabel string    `json:"actor"`
	Action     string    `json:"action"`
	TargetType string    `json:"target_type,omitempty"`
	TargetID   string    `json:"target_id,omitempty"`
	IP         string    `json:"ip,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	Hash       string    `json:"hash"`
}

func (s *Server) handleAPIAudit(c *fiber.Ctx) error {
	events, err := s.deps.Audit.FindAuditEvents(c.UserContext(), principal(c).Tenant.ID, s.auditFilter(c))
	if err != nil {
		return err
	}
	out := make([]apiAuditEvent, len(events))
	for i, e := range events {
		out[i] = apiAuditEvent{ID: e.ID, Seq: e.Seq, At: e.At, ActorID: e.ActorID, ActorLabel: e.ActorLabel, Action: e.Action,
			TargetType: e.TargetType, TargetID: e.TargetID, IP: e.IP, Detail: e.Detail, Hash: hex.EncodeToString(e.Hash)}
	}
	return c.JSON(fiber.Map{"events": out})
}
