package tma

import (
	"context"
	"slices"
	"time"
)

// Role is a tenant role. Roles decide which actions a user may take; case
// membership (a later capability) decides on which cases.
type Role string

// The roles every tenant has.
const (
	RoleThreatManager Role = "threat_manager"
	RoleLegal         Role = "legal"
	RoleHR            Role = "hr"
	RoleCompliance    Role = "compliance"
	RoleAuditor       Role = "auditor"
	RoleAdmin         Role = "admin"
)

// Roles lists every role in display order.
var Roles = []Role{RoleThreatManager, RoleLegal, RoleHR, RoleCompliance, RoleAuditor, RoleAdmin}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// User is a person with an account in one tenant.
type User struct {
	ID                string
	TenantID          string
	Email             string // stored lower-case; unique per tenant
	DisplayName       string
	Locale            string // "en", "de" or "" for the browser's choice
	Roles             []Role
	MFAEnabled        bool
	Disabled          bool
	PasswordChangedAt time.Time
	CreatedAt         time.Time
}

// HasRole reports whether u has role r.
func (u *User) HasRole(r Role) bool { return slices.Contains(u.Roles, r) }

// NewUser is the input to UserService.CreateUser.
type NewUser struct {
	Email       string
	DisplayName string
	Password    string
	Locale      string
	Roles       []Role
}

// UserService manages the users of a tenant. Every method acts for the
// Actor in ctx, scoped to its tenant, and writes an audit event in the same
// transaction as the change.
type UserService interface {
	// CreateUser returns EINVALID for a bad email, weak password or unknown
	// role, and ECONFLICT if the email is taken in the tenant.
	CreateUser(ctx context.Context, tenantID string, nu NewUser) (*User, error)
	// FindUserByID returns ENOTFOUND if the user does not exist in the tenant.
	FindUserByID(ctx context.Context, tenantID, userID string) (*User, error)
	// FindUsers lists the users of the tenant ordered by display name.
	FindUsers(ctx context.Context, tenantID string) ([]*User, error)
	// SetRoles replaces the roles of a user.
	SetRoles(ctx context.Context, tenantID, userID string, roles []Role) error
	// SetDisabled locks or unlocks an account; locking revokes its sessions.
	SetDisabled(ctx context.Context, tenantID, userID string, disabled bool) error
	// SetLocale stores the user's language preference ("", "en" or "de").
	SetLocale(ctx context.Context, tenantID, userID, locale string) error
	// ResetPassword sets a new password chosen by an admin and revokes the
	// user's sessions.
	ResetPassword(ctx context.Context, tenantID, userID, newPassword string) error
}
