package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// AuthService checks passwords and second factors and keeps sessions.
type AuthService struct {
	db       *DB
	sessions tma.SessionPolicy
	throttle tma.ThrottlePolicy
	issuer   string // shown in authenticator apps
	secrets  tma.SecretSealer
	// argon bounds concurrent password checks: each takes 19 MiB, and a
	// flood of sign-ins must not exhaust memory.
	argon chan struct{}
}

var _ tma.AuthService = (*AuthService)(nil)

// NewAuthService returns an AuthService. issuer names the product in
// authenticator apps; secrets seals TOTP seeds.
func NewAuthService(db *DB, sp tma.SessionPolicy, tp tma.ThrottlePolicy, issuer string, secrets tma.SecretSealer) *AuthService {
	return &AuthService{db: db, sessions: sp, throttle: tp, issuer: issuer, secrets: secrets, argon: make(chan struct{}, maxConcurrentHashes)}
}

// maxConcurrentHashes caps the memory of password checks at about 300 MiB.
const maxConcurrentHashes = 16

// checkPassword checks password against hash within the concurrency bound.
// EUNAVAILABLE if the caller gives up waiting.
func (s *AuthService) checkPassword(ctx context.Context, hash, password string) (bool, error) {
	select {
	case s.argon <- struct{}{}:
	case <-ctx.Done():
		return false, &tma.Error{Code: tma.EUNAVAILABLE, Message: "The service is busy. Please try again in a moment.", Op: "AuthService.checkPassword", Err: ctx.Err()}
	}
	defer func() { <-s.argon }()
	return checkPassword(hash, password), nil
}

var (
	errBadLogin = tma.Errorf(tma.EUNAUTHORIZED, "Unknown organisation, e-mail address or password.")
	errExpired  = tma.Errorf(tma.EUNAUTHORIZED, "Your session has ended. Please sign in again.")
	errBadCode  = tma.Errorf(tma.EUNAUTHORIZED, "The code is not valid. Enter the current code from your authenticator app or an unused recovery code.")
)

// newToken returns a random 256-bit token and its SHA-256.
func newToken() (string, []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	return tok, hashToken(tok)
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// Login implements tma.AuthService.
func (s *AuthService) Login(ctx context.Context, req tma.LoginRequest) (*tma.LoginResult, error) {
	const op = "AuthService.Login"
	email := strings.ToLower(strings.TrimSpace(req.Email))
	slug := strings.ToLower(strings.TrimSpace(req.Tenant))
	if email == "" || req.Password == "" || slug == "" {
		return nil, tma.Errorf(tma.EINVALID, "Enter your organisation, e-mail address and password.")
	}
	for field, v := range map[string]string{"tenant": slug, "email": email, "password": req.Password} {
		if err := tma.CheckText(field, v); err != nil {
			return nil, err
		}
	}
	if len(req.Password) > tma.MaxPasswordLen || len(email) > 254 || len(slug) > 63 {
		return nil, errBadLogin
	}
	var tenantID string
	err := s.db.Pool.QueryRow(ctx, `SELECT id FROM tenants WHERE slug = $1`, slug).Scan(&tenantID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, dbError(op, err)
	}
	var userID, hash string
	var disabled, hasTOTP bool
	if tenantID != "" {
		err = s.db.Pool.QueryRow(ctx, `SELECT id, password_hash, disabled, totp_secret IS NOT NULL FROM users WHERE tenant_id = $1 AND email = $2`,
			tenantID, email).Scan(&userID, &hash, &disabled, &hasTOTP)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, dbError(op, err)
		}
	}
	label := email
	if userID == "" {
		label, hash = typedLabel(email), dummyHash() // same cost as a real check
	}
	ctx = tma.NewContextWithActor(ctx, tma.Actor{TenantID: tenantID, UserID: userID, Label: label, IP: req.IP})
	device, err := s.knownDevice(ctx, req.Device, tenantID, userID)
	if err != nil {
		return nil, err
	}
	account := s.accountKey(tenantID, slug, email)
	if device != nil {
		account = s.deviceKey(userID, device)
	}
	r, err := s.reserve(ctx, tenantID, s.addressKey(req.IP), account)
	if err != nil {
		return nil, err
	}
	ok, err := s.checkPassword(ctx, hash, req.Password)
	if err != nil {
		return nil, err
	}
	fail := func(reason string) error {
		return s.failed(ctx, r, tma.AuditLoginFailed, reason, errBadLogin)
	}
	switch {
	case userID == "":
		return nil, fail("unknown user")
	case !ok:
		return nil, fail("wrong password")
	case disabled:
		return nil, fail("account disabled")
	}

	var res *tma.LoginResult
	err = s.db.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := r.release(ctx, tx); err != nil {
			return err
		}
		var err error
		res, err = s.createSession(ctx, tx, tenantID, userID, hasTOTP, req)
		if err != nil {
			return err
		}
		if device == nil && !hasTOTP { // with a second factor: once that is in
			if res.Device, err = s.rememberDevice(ctx, tx, tenantID, userID); err != nil {
				return err
			}
		}
		if hasTOTP {
			return err // the login is audited once the second factor is in
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditLoginSucceeded, "user", userID, "password")
	})
	return res, err
}

func (s *AuthService) createSession(ctx context.Context, tx pgx.Tx, tenantID, userID string, pending bool, req tma.LoginRequest) (*tma.LoginResult, error) {
	tok, h := newToken()
	now := s.db.now()
	// The User-Agent is only recorded, so it is cleaned rather than refused.
	ua := tma.CleanText(req.UserAgent, 300)
	sess := &tma.Session{TenantID: tenantID, UserID: userID, MFAPending: pending, IP: req.IP, UserAgent: ua, CreatedAt: now, LastSeenAt: now}
	err := tx.QueryRow(ctx, `INSERT INTO sessions (token_hash, tenant_id, user_id, mfa_pending, ip, user_agent, created_at, last_seen_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`, h, tenantID, userID, pending, req.IP, ua, now).Scan(&sess.ID)
	if err != nil {
		return nil, err
	}
	return &tma.LoginResult{Session: sess, Token: tok}, nil
}

// sessionRow is a session with what Authenticate needs to judge it.
type sessionRow struct {
	tma.Session
	disabled bool
}

func (s *AuthService) loadSession(ctx context.Context, q querier, token string, lock bool) (*sessionRow, error) {
	if token == "" || len(token) > 100 {
		return nil, errExpired
	}
	sql := `SELECT s.id, s.tenant_id, s.user_id, s.mfa_pending, s.ip, s.user_agent, s.created_at, s.last_seen_at, u.disabled
		FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id WHERE s.token_hash = $1`
	if lock {
		sql += ` FOR UPDATE OF s`
	}
	var r sessionRow
	err := q.QueryRow(ctx, sql, hashToken(token)).Scan(&r.ID, &r.TenantID, &r.UserID, &r.MFAPending, &r.IP, &r.UserAgent,
		&r.CreatedAt, &r.LastSeenAt, &r.disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errExpired
	} else if err != nil {
		return nil, dbError("AuthService.loadSession", err)
	}
	if err := s.judge(ctx, q, &r.Session, r.disabled, s.db.now()); err != nil {
		return nil, err
	}
	return &r, nil
}

// judge deletes the session and returns errExpired if it has ended: its
// user is disabled, or it was idle or lived too long. Through q: inside a
// transaction that holds the row lock, a delete through another connection
// would wait for itself.
//
// last_seen_at is written at most once per touchInterval (a minute), so it
// lags the last use by up to that much: a session ends between Idle minus
// one minute and Idle after its last use, never later.
func (s *AuthService) judge(ctx context.Context, q querier, sess *tma.Session, disabled bool, now time.Time) error {
	expired := disabled ||
		now.Sub(sess.LastSeenAt) > s.sessions.Idle ||
		now.Sub(sess.CreatedAt) > s.sessions.Absolute ||
		sess.MFAPending && now.Sub(sess.CreatedAt) > s.sessions.PendingMFA
	if !expired {
		return nil
	}
	if _, err := q.Exec(ctx, `DELETE FROM sessions WHERE tenant_id = $1 AND id = $2`, sess.TenantID, sess.ID); err != nil {
		return dbError("AuthService.judge", err)
	}
	return errExpired
}

// Authenticate implements tma.AuthService. A session validated a moment
// ago comes from the in-process cache, without a query (sessioncache.go);
// otherwise one statement loads it with its user, roles and tenant, and
// refreshes last_seen_at at most once a minute.
func (s *AuthService) Authenticate(ctx context.Context, token string) (*tma.Principal, error) {
	if token == "" || len(token) > 100 {
		return nil, errExpired
	}
	key := sha256.Sum256([]byte(token))
	now := s.db.now()
	if p := s.db.cache.get(key, now, s.sessions); p != nil {
		p.Token = token
		return p, nil
	}
	gen := s.db.cache.generation()
	p, err := s.loadPrincipal(ctx, key[:], now)
	if err != nil {
		return nil, err
	}
	s.db.cache.put(key, gen, p)
	p.Token = token
	return p, nil
}

// rotate gives the session a new token; the old one stops working.
func rotate(ctx context.Context, tx pgx.Tx, sess *tma.Session, pending bool) (*tma.LoginResult, error) {
	tok, h := newToken()
	if _, err := tx.Exec(ctx, `UPDATE sessions SET token_hash = $3, mfa_pending = $4 WHERE tenant_id = $1 AND id = $2`, sess.TenantID, sess.ID, h, pending); err != nil {
		return nil, err
	}
	sess.MFAPending = pending
	return &tma.LoginResult{Session: sess, Token: tok}, nil
}

// withUser returns ctx with the session's user as the actor.
func (s *AuthService) withUser(ctx context.Context, tx pgx.Tx, sess *tma.Session, ip string) (context.Context, error) {
	var email string
	if err := tx.QueryRow(ctx, `SELECT email FROM users WHERE tenant_id = $1 AND id = $2`, sess.TenantID, sess.UserID).Scan(&email); err != nil {
		return nil, err
	}
	if ip == "" {
		ip = sess.IP
	}
	return tma.NewContextWithActor(ctx, tma.Actor{UserID: sess.UserID, TenantID: sess.TenantID, Label: email, IP: ip}), nil
}

// VerifyMFA implements tma.AuthService. Wrong codes count against the
// user's second-factor counter, which a correct password does not reset.
func (s *AuthService) VerifyMFA(ctx context.Context, token, code, ip string) (*tma.LoginResult, error) {
	const op = "AuthService.VerifyMFA"
	r, err := s.loadSession(ctx, s.db.Pool, token, false)
	if err != nil {
		return nil, err
	}
	if !r.MFAPending {
		return nil, tma.Errorf(tma.ECONFLICT, "This session needs no second factor.")
	}
	var email string
	if err := s.db.Pool.QueryRow(ctx, `SELECT email FROM users WHERE tenant_id = $1 AND id = $2`, r.TenantID, r.UserID).Scan(&email); err != nil {
		return nil, dbError(op, err)
	}
	if ip == "" {
		ip = r.IP
	}
	ctx = tma.NewContextWithActor(ctx, tma.Actor{UserID: r.UserID, TenantID: r.TenantID, Label: email, IP: ip})
	rsv, err := s.reserve(ctx, r.TenantID, s.addressKey(ip), s.mfaKey(r.UserID))
	if err != nil {
		return nil, err
	}
	var res *tma.LoginResult
	ok := false
	err = s.db.inTx(ctx, op, func(tx pgx.Tx) error {
		locked, err := s.loadSession(ctx, tx, token, true)
		if err != nil {
			return err
		}
		if !locked.MFAPending {
			return tma.Errorf(tma.ECONFLICT, "This session needs no second factor.")
		}
		var how string
		if ok, how, err = s.checkSecondFactor(ctx, tx, r.TenantID, r.UserID, code); err != nil || !ok {
			return err // a wrong code commits nothing here
		}
		if err := rsv.release(ctx, tx); err != nil {
			return err
		}
		if res, err = rotate(ctx, tx, &locked.Session, false); err != nil {
			return err
		}
		// Only a browser that passed both factors becomes a known device.
		if res.Device, err = s.rememberDevice(ctx, tx, r.TenantID, r.UserID); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, r.TenantID, tma.AuditLoginSucceeded, "user", r.UserID, "password+"+how)
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.failed(ctx, rsv, tma.AuditMFAFailed, "", errBadCode)
	}
	return res, nil
}

// Logout implements tma.AuthService.
func (s *AuthService) Logout(ctx context.Context, token string) error {
	return s.db.inTx(ctx, "AuthService.Logout", func(tx pgx.Tx) error {
		var sess tma.Session
		err := tx.QueryRow(ctx, `DELETE FROM sessions WHERE token_hash = $1 RETURNING id, tenant_id, user_id, ip`, hashToken(token)).
			Scan(&sess.ID, &sess.TenantID, &sess.UserID, &sess.IP)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // already gone: logging out twice is fine
		} else if err != nil {
			return err
		}
		actx, err := s.withUser(ctx, tx, &sess, tma.ActorFromContext(ctx).IP)
		if err != nil {
			return err
		}
		return s.db.audit(actx, tx, sess.TenantID, tma.AuditLogout, "session", sess.ID, "")
	})
}

// LogoutEverywhere implements tma.AuthService.
func (s *AuthService) LogoutEverywhere(ctx context.Context, tenantID, userID string) error {
	return s.revokeAll(ctx, "AuthService.LogoutEverywhere", tenantID, userID, tma.AuditLogoutEverywhere)
}

// RevokeSessions implements tma.AuthService.
func (s *AuthService) RevokeSessions(ctx context.Context, tenantID, userID string) error {
	return s.revokeAll(ctx, "AuthService.RevokeSessions", tenantID, userID, tma.AuditSessionsRevoked)
}

func (s *AuthService) revokeAll(ctx context.Context, op, tenantID, userID, action string) error {
	if !tma.ValidID(userID) {
		return tma.Errorf(tma.ENOTFOUND, "No such user.")
	}
	return s.db.inTx(ctx, op, func(tx pgx.Tx) error {
		if _, err := lockUser(ctx, tx, tenantID, userID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID)
		if err != nil {
			return err
		}
		// The browsers it signed in with are forgotten too: whoever held
		// them must prove themselves again, and gets no device of their own
		// counter during a lockout.
		if err := forgetSessionsAndDevices(ctx, tx, tenantID, userID); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, action, "user", userID, fmt.Sprintf("sessions=%d", tag.RowsAffected()))
	})
}

// ChangePassword implements tma.AuthService. Wrong current passwords count
// against the account like failed sign-ins, so a stolen session cannot be
// used to guess the password.
func (s *AuthService) ChangePassword(ctx context.Context, token, oldPassword, newPassword string) (*tma.LoginResult, error) {
	const op = "AuthService.ChangePassword"
	if err := tma.ValidatePassword(newPassword); err != nil {
		return nil, err
	}
	r, email, err := s.checkCurrentPassword(ctx, token, oldPassword)
	if err != nil {
		return nil, err
	}
	newHash := hashPassword(newPassword)
	var res *tma.LoginResult
	err = s.db.inTx(ctx, op, func(tx pgx.Tx) error {
		locked, err := s.loadSession(ctx, tx, token, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $3, password_changed_at = now() WHERE tenant_id = $1 AND id = $2`, r.TenantID, r.UserID, newHash); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND id <> $3`, r.TenantID, r.UserID, r.ID); err != nil {
			return err
		}
		if res, err = rotate(ctx, tx, &locked.Session, false); err != nil {
			return err
		}
		actx := tma.NewContextWithActor(ctx, tma.Actor{UserID: r.UserID, TenantID: r.TenantID, Label: email, IP: tma.ActorFromContext(ctx).IP})
		return s.db.audit(actx, tx, r.TenantID, tma.AuditPasswordChanged, "user", r.UserID, "")
	})
	return res, err
}

// checkCurrentPassword re-authenticates the user of a session with the
// password, counted like a sign-in. A correct password gives the attempt
// back at once, whatever the caller does next.
func (s *AuthService) checkCurrentPassword(ctx context.Context, token, password string) (*sessionRow, string, error) {
	const op = "AuthService.checkCurrentPassword"
	r, err := s.loadSession(ctx, s.db.Pool, token, false)
	if err != nil {
		return nil, "", err
	}
	if r.MFAPending {
		return nil, "", tma.Errorf(tma.EFORBIDDEN, "Complete the sign-in first.")
	}
	var email, hash string
	if err := s.db.Pool.QueryRow(ctx, `SELECT email, password_hash FROM users WHERE tenant_id = $1 AND id = $2`, r.TenantID, r.UserID).Scan(&email, &hash); err != nil {
		return nil, "", dbError(op, err)
	}
	ip := tma.ActorFromContext(ctx).IP
	ctx = tma.NewContextWithActor(ctx, tma.Actor{UserID: r.UserID, TenantID: r.TenantID, Label: email, IP: ip})
	// Counted per user, not on the account key: a stranger who keeps the
	// account locked must not stop its signed-in owner from changing the
	// password, and a stolen session still gets only a few guesses.
	rsv, err := s.reserve(ctx, r.TenantID, s.recheckKey(r.UserID))
	if err != nil {
		return nil, "", err
	}
	ok, err := s.checkPassword(ctx, hash, password)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", s.failed(ctx, rsv, tma.AuditLoginFailed, "wrong current password",
			tma.Errorf(tma.EINVALID, "The current password is not correct."))
	}
	err = s.db.inTx(ctx, op, func(tx pgx.Tx) error { return rsv.release(ctx, tx) })
	return r, email, err
}

// ListSessions implements tma.AuthService.
func (s *AuthService) ListSessions(ctx context.Context, tenantID, userID string) ([]*tma.Session, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT id, tenant_id, user_id, mfa_pending, ip, user_agent, created_at, last_seen_at
		FROM sessions WHERE tenant_id = $1 AND user_id = $2 ORDER BY last_seen_at DESC`, tenantID, userID)
	if err != nil {
		return nil, dbError("AuthService.ListSessions", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*tma.Session, error) {
		var x tma.Session
		err := r.Scan(&x.ID, &x.TenantID, &x.UserID, &x.MFAPending, &x.IP, &x.UserAgent, &x.CreatedAt, &x.LastSeenAt)
		return &x, err
	})
	return list, dbError("AuthService.ListSessions", err)
}
