package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// principalSQL loads a session with its user, the user's roles and the
// tenant in one statement, and refreshes last_seen_at in the same round
// trip when it is older than the touch interval ($3) but the session is not
// idle yet ($4): an idle session is never brought back to life.
//
// The session is found by its token's SHA-256, which is unique across
// tenants; the joins keep user and tenant to the session's tenant.
const principalSQL = `WITH s AS (
		SELECT id, tenant_id, user_id, mfa_pending, ip, user_agent, created_at, last_seen_at
		FROM sessions WHERE token_hash = $1
	), touched AS (
		UPDATE sessions SET last_seen_at = $2 FROM s
		WHERE sessions.id = s.id AND s.last_seen_at < $3 AND s.last_seen_at >= $4
		RETURNING sessions.id
	)
	SELECT s.id, s.tenant_id, s.user_id, s.mfa_pending, s.ip, s.user_agent, s.created_at, s.last_seen_at,
		EXISTS (SELECT 1 FROM touched),
		` + userColumns + `,
		t.id, t.slug, t.name, t.require_mfa, t.created_at
	FROM s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
		JOIN tenants t ON t.id = s.tenant_id`

// loadPrincipal returns the principal of the session whose token hashes to
// tokenHash, without its token. EUNAUTHORIZED if the session is unknown or
// has ended (and then it is deleted).
func (s *AuthService) loadPrincipal(ctx context.Context, tokenHash []byte, now time.Time) (*tma.Principal, error) {
	var sess tma.Session
	var u tma.User
	var t tma.Tenant
	var touched bool
	var roles []string
	err := s.db.Pool.QueryRow(ctx, principalSQL, tokenHash, now, now.Add(-touchInterval(s.sessions)), now.Add(-s.sessions.Idle)).Scan(
		&sess.ID, &sess.TenantID, &sess.UserID, &sess.MFAPending, &sess.IP, &sess.UserAgent, &sess.CreatedAt, &sess.LastSeenAt,
		&touched,
		&u.ID, &u.TenantID, &u.Email, &u.DisplayName, &u.Locale, &u.Disabled, &u.MFAEnabled, &u.PasswordChangedAt, &u.CreatedAt, &roles,
		&t.ID, &t.Slug, &t.Name, &t.RequireMFA, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errExpired
	} else if err != nil {
		return nil, dbError("AuthService.loadPrincipal", err)
	}
	if touched {
		sess.LastSeenAt = now
	}
	if err := s.judge(ctx, s.db.Pool, &sess, u.Disabled, now); err != nil {
		return nil, err
	}
	for _, r := range roles {
		u.Roles = append(u.Roles, tma.Role(r))
	}
	return &tma.Principal{Session: &sess, User: &u, Tenant: &t}, nil
}
