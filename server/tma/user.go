package tma

import (
	"context"
	"slices"
	"time"
)

// Role is a tenant role. Roles decide which actions a user may take; case
// membership (CaseRole) decides on which cases.
type Role string

// The roles every tenant has.
const (
	RoleThreatManager Role = "threat_manager"
	RoleLegal         Role = "legal"
	RoleHR            Role = "hr"
	RoleCompliance    Role = "compliance"
	RoleAuditor       Role = "auditor"
	RoleAdmin         Role = "admin"
	// RoleEmployee may file reports and follow their own, nothing else.
	RoleEmployee Role = "employee"
)

// Roles lists every role in display order.
var Roles = []Role{RoleThreatManager, RoleLegal, RoleHR, RoleCompliance, RoleEmployee, RoleAuditor, RoleAdmin}

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
	// FindUserByEmail returns ENOTFOUND if no user of the tenant has email.
	FindUserByEmail(ctx context.Context, tenantID, email string) (*User, error)
	// FindUsers lists the users of the tenant ordered by display name.
	FindUsers(ctx context.Context, tenantID string) ([]*User, error)
	// SetRoles replaces the roles of a user.
	SetRoles(ctx context.Context, tenantID, userID string, roles []Role) error
	// SetDisabled locks or unlocks an account; locking revokes its sessions.
	SetDisabled(ctx context.Context, tenantID, userID string, disabled bool) error
	// SetLocale stores the user's language preference ("", "en" or "de").
	SetLocale(ctx context.Context, tenantID, userID, locale string) error
	// ResetPassword sets a new password chosen by an admin, revokes the
	// user's sessions and lifts a sign-in lockout of the account.
	ResetPassword(ctx context.Context, tenantID, userID, newPassword string) error
	// LiftLockout ends a sign-in lockout of the account after failed
	// attempts, from every address.
	LiftLockout(ctx context.Context, tenantID, userID string) error
}

// Changes that CheckAccountChange refuses return EFORBIDDEN, and the refused
// attempt is itself audited (AuditChangeRefused).

// AccountChange is something an administrator does to another account.
type AccountChange string

// The account changes that separation of duties rules on. The values are
// recorded in the audit log when a change is refused.
const (
	ChangeCreate        AccountChange = "create"
	ChangeRoles         AccountChange = "roles"
	ChangePassword      AccountChange = "password"
	ChangeStatus        AccountChange = "status"
	ChangeLiftLockout   AccountChange = "unlock"
	ChangeRevokeSession AccountChange = "sessions"
)

// IsOperator reports whether a is the operator of the installation (the
// `tma` command line, which needs the database credentials), rather than a
// signed-in user or an anonymous visitor.
func (a Actor) IsOperator() bool { return a.Operator && a.UserID == "" }

// CheckAccountChange applies separation of duties to a change that actor
// makes to target (for ChangeCreate, target is the new user and roles its
// roles; for ChangeRoles, roles are the new roles).
//
//   - Nobody changes their own roles, password (outside the account page)
//     or status: an administrator could otherwise make themselves auditor.
//   - Auditor accounts are managed only by the operator: creating one,
//     granting or removing the role, resetting its password, locking it
//     and lifting its lockout. An administrator who could do any of these
//     could read the audit log (sign in as a fresh auditor, or as one whose
//     password they set, or guess an auditor's password with lockouts
//     lifted at will) or silence the people who review it. Ending an
//     auditor's sessions gives nobody access and stays with administrators.
//
// roles are the roles as requested, before any normalisation, so that a
// refused request is recognised (and audited) whatever else is wrong with it.
//
// It returns EFORBIDDEN with a message that says who may do it instead.
func CheckAccountChange(actor Actor, target *User, change AccountChange, roles []Role) error {
	if actor.IsOperator() {
		return nil
	}
	if target.ID != "" && target.ID == actor.UserID {
		switch change {
		case ChangeRoles:
			return Errorf(EFORBIDDEN, "You cannot change your own roles; ask another administrator.")
		case ChangePassword:
			return Errorf(EFORBIDDEN, "Change your own password on your account page.")
		case ChangeStatus:
			return Errorf(EFORBIDDEN, "You cannot lock your own account.")
		}
	}
	auditor := target.HasRole(RoleAuditor) || slices.Contains(roles, RoleAuditor)
	switch change {
	case ChangeCreate, ChangeRoles, ChangePassword, ChangeStatus, ChangeLiftLockout:
		if auditor {
			return Errorf(EFORBIDDEN, "Auditor accounts are managed only by the operator with the tma command line (tma user …), so that no administrator can read or silence the audit log.")
		}
	}
	return nil
}
