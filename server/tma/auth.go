package tma

import (
	"context"
	"time"
)

// Session is a server-side login session. The token itself is never stored;
// only its SHA-256 is.
type Session struct {
	ID         string
	TenantID   string
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	// MFAPending is true between a correct password and a correct second
	// factor. Such a session may only complete the second factor.
	MFAPending bool
	IP         string
	UserAgent  string
}

// Principal is what the session middleware knows about the caller.
type Principal struct {
	Session *Session
	User    *User
	Tenant  *Tenant
	// Token is the raw session token of this request. Used to derive the
	// CSRF token; never logged.
	Token string
}

// LoginRequest is the input to AuthService.Login.
type LoginRequest struct {
	Tenant    string // tenant slug
	Email     string
	Password  string
	IP        string
	UserAgent string
	// Device is the raw known-device token the browser presents, if any.
	Device string
}

// LoginResult is a new session and its raw token, to be put into a cookie.
type LoginResult struct {
	Session *Session
	Token   string
	// Device, if not empty, is a new known-device token for the browser to
	// keep (a long-lived cookie): its later attempts count on their own.
	Device string
}

// SessionPolicy are the timeouts of sessions.
type SessionPolicy struct {
	Idle     time.Duration
	Absolute time.Duration
	// PendingMFA bounds how long a password-only session may wait for the
	// second factor.
	PendingMFA time.Duration
}

// ThrottlePolicy bounds failed logins per account and per client address
// within Window; exceeding a bound locks for Lockout.
type ThrottlePolicy struct {
	AccountFailures int
	AddressFailures int
	Window          time.Duration
	Lockout         time.Duration
}

// TOTPEnrollment is a not yet confirmed TOTP secret.
type TOTPEnrollment struct {
	Secret string // base32
	URL    string // otpauth:// URL for the QR code
}

// AuthService authenticates users and manages their sessions.
type AuthService interface {
	// Login checks a password. An unknown tenant, an unknown user and a wrong
	// password all give the same EUNAUTHORIZED message. ETHROTTLED when the
	// account or address is locked, even for a correct password. A browser
	// that presents a known-device token of the account is counted on its
	// own instead of on the account, so a stranger's lockout does not keep
	// the owner out. A user with
	// MFA gets a session with MFAPending set.
	Login(ctx context.Context, req LoginRequest) (*LoginResult, error)
	// VerifyMFA checks a TOTP or recovery code for a pending session and
	// returns a new session (the token is rotated). The old token stops
	// working.
	VerifyMFA(ctx context.Context, token, code, ip string) (*LoginResult, error)
	// Authenticate returns the principal for a raw token. EUNAUTHORIZED if the
	// token is unknown, revoked or expired (idle or absolute).
	Authenticate(ctx context.Context, token string) (*Principal, error)
	// Logout revokes the session of token.
	Logout(ctx context.Context, token string) error
	// LogoutEverywhere revokes every session of the user.
	LogoutEverywhere(ctx context.Context, tenantID, userID string) error
	// RevokeSessions revokes every session of another user (an admin action).
	RevokeSessions(ctx context.Context, tenantID, userID string) error
	// ChangePassword checks the old password, stores the new one, revokes all
	// other sessions and returns a rotated session for the caller.
	ChangePassword(ctx context.Context, token, oldPassword, newPassword string) (*LoginResult, error)
	// BeginTOTP creates a new secret for the user, not yet active.
	BeginTOTP(ctx context.Context, tenantID, userID string) (*TOTPEnrollment, error)
	// ConfirmTOTP checks the password again and activates the pending secret
	// if code matches. It returns fresh recovery codes (shown once; stored
	// hashed) and a rotated session.
	ConfirmTOTP(ctx context.Context, token, password, code string) (recovery []string, res *LoginResult, err error)
	// RemoveTOTP switches MFA off for the user of the session after checking
	// the password. EFORBIDDEN if the tenant requires MFA.
	RemoveTOTP(ctx context.Context, token, password string) error
	// ListSessions lists the live sessions of a user.
	ListSessions(ctx context.Context, tenantID, userID string) ([]*Session, error)
}
