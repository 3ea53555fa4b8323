package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tma-portal/tma/server/tma"
)

// AuthService checks passwords and second factors and keeps sessions.
type AuthService struct {
	db       *DB
	sessions tma.SessionPolicy
	throttle tma.ThrottlePolicy
	issuer   string // shown in authenticator apps
	// argon bounds concurrent password checks: each takes 19 MiB, and a
	// flood of sign-ins must not exhaust memory.
	argon chan struct{}
}

var _ tma.AuthService = (*AuthService)(nil)

// NewAuthService returns an AuthService. issuer names the product in
// authenticator apps.
func NewAuthService(db *DB, sp tma.SessionPolicy, tp tma.ThrottlePolicy, issuer string) *AuthService {
	return &AuthService{db: db, sessions: sp, throttle: tp, issuer: issuer, argon: make(chan struct{}, maxConcurrentHashes)}
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
	if len(req.Password) > maxPasswordLen || len(email) > 254 || len(slug) > 63 {
		return nil, errBadLogin
	}
	var tenantID string
	err := s.db.Pool.QueryRow(ctx, `SELECT id FROM tenants WHERE slug = $1`, slug).Scan(&tenantID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, unavailable(op, err)
	}
	var userID, hash string
	var disabled, hasTOTP bool
	if tenantID != "" {
		err = s.db.Pool.QueryRow(ctx, `SELECT id, password_hash, disabled, totp_secret IS NOT NULL FROM users WHERE tenant_id = $1 AND email = $2`,
			tenantID, email).Scan(&userID, &hash, &disabled, &hasTOTP)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, unavailable(op, err)
		}
	}
	label := email
	if userID == "" {
		label, hash = typedLabel(email), dummyHash() // same cost as a real check
	}
	ctx = tma.NewContextWithActor(ctx, tma.Actor{TenantID: tenantID, UserID: userID, Label: label, IP: req.IP})
	r, err := s.reserve(ctx, tenantID, s.addressKey(req.IP), s.accountKey(tenantID, slug, email))
	if err != nil {
		return nil, err
	}
	ok, err := s.checkPassword(ctx, hash, req.Password)
	if err != nil {
		return nil, err
	}
	fail := func(reason string) error {
		return s.failed(ctx, r, &tma.AuditEvent{TenantID: tenantID, ActorID: userID, ActorLabel: label, IP: req.IP,
			Action: tma.AuditLoginFailed, TargetType: "user", TargetID: userID, Detail: reason}, errBadLogin)
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
		if err != nil || hasTOTP {
			return err // the login is audited once the second factor is in
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditLoginSucceeded, "user", userID, "password")
	})
	return res, err
}

func (s *AuthService) createSession(ctx context.Context, tx pgx.Tx, tenantID, userID string, pending bool, req tma.LoginRequest) (*tma.LoginResult, error) {
	tok, h := newToken()
	now := s.db.now()
	ua := req.UserAgent
	if len(ua) > 300 {
		ua = ua[:300]
	}
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
		return nil, unavailable("AuthService.loadSession", err)
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
	if _, err := q.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, sess.ID); err != nil {
		return unavailable("AuthService.judge", err)
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
	if _, err := tx.Exec(ctx, `UPDATE sessions SET token_hash = $2, mfa_pending = $3 WHERE id = $1`, sess.ID, h, pending); err != nil {
		return nil, err
	}
	sess.MFAPending = pending
	return &tma.LoginResult{Session: sess, Token: tok}, nil
}

// withUser returns ctx with the session's user as the actor.
func (s *AuthService) withUser(ctx context.Context, tx pgx.Tx, sess *tma.Session, ip string) (context.Context, error) {
	var email string
	if err := tx.QueryRow(ctx, `SELECT email FROM users WHERE id = $1`, sess.UserID).Scan(&email); err != nil {
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
	if err := s.db.Pool.QueryRow(ctx, `SELECT email FROM users WHERE id = $1`, r.UserID).Scan(&email); err != nil {
		return nil, unavailable(op, err)
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
		return s.db.audit(ctx, tx, r.TenantID, tma.AuditLoginSucceeded, "user", r.UserID, "password+"+how)
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.failed(ctx, rsv, &tma.AuditEvent{TenantID: r.TenantID, ActorID: r.UserID, ActorLabel: email, IP: ip,
			Action: tma.AuditMFAFailed, TargetType: "user", TargetID: r.UserID}, errBadCode)
	}
	return res, nil
}

// checkSecondFactor accepts a TOTP code newer than the last one used, or an
// unused recovery code, and consumes it.
func (s *AuthService) checkSecondFactor(ctx context.Context, tx pgx.Tx, tenantID, userID, code string) (bool, string, error) {
	code = normalizeCode(code)
	if len(code) == 6 {
		var secret *string
		var last int64
		if err := tx.QueryRow(ctx, `SELECT totp_secret, totp_last_step FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&secret, &last); err != nil {
			return false, "", err
		}
		if secret == nil {
			return false, "", nil
		}
		step, ok := s.matchTOTP(*secret, code, last)
		if !ok {
			return false, "", nil
		}
		_, err := tx.Exec(ctx, `UPDATE users SET totp_last_step = $2 WHERE id = $1`, userID, step)
		return err == nil, "totp", err
	}
	tag, err := tx.Exec(ctx, `UPDATE recovery_codes SET used_at = now() WHERE tenant_id = $1 AND user_id = $2 AND code_hash = $3 AND used_at IS NULL`,
		tenantID, userID, hashRecovery(code))
	if err != nil {
		return false, "", err
	}
	return tag.RowsAffected() == 1, "recovery_code", nil
}

const totpPeriod = 30

// normalizeCode drops the spaces people type into codes ("123 456").
func normalizeCode(code string) string {
	return strings.Join(strings.Fields(code), "")
}

// matchTOTP checks code against the steps around now (one step of clock
// skew either way) that are newer than last, and returns the matching step.
func (s *AuthService) matchTOTP(secret, code string, last int64) (int64, bool) {
	now := s.db.Now().Unix() / totpPeriod
	for _, step := range []int64{now - 1, now, now + 1} {
		if step <= last {
			continue // a code is good only once
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{
			Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
		})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

func hashRecovery(code string) []byte {
	code = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(code), "-", ""))
	h := sha256.Sum256([]byte("tma recovery code " + code))
	return h[:]
}

// newRecoveryCodes returns n codes of 50 random bits, e.g. "k3m9-q2x7-ab".
func newRecoveryCodes(n int) []string {
	codes := make([]string, n)
	enc := base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)
	for i := range codes {
		b := make([]byte, 7)
		_, _ = rand.Read(b)
		s := enc.EncodeToString(b)[:10]
		codes[i] = s[:4] + "-" + s[4:8] + "-" + s[8:]
	}
	return codes
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
		return s.db.audit(ctx, tx, tenantID, action, "user", userID, fmt.Sprintf("sessions=%d", tag.RowsAffected()))
	})
}

// ChangePassword implements tma.AuthService. Wrong current passwords count
// against the account like failed sign-ins, so a stolen session cannot be
// used to guess the password.
func (s *AuthService) ChangePassword(ctx context.Context, token, oldPassword, newPassword string) (*tma.LoginResult, error) {
	const op = "AuthService.ChangePassword"
	if err := validatePassword(newPassword); err != nil {
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
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, password_changed_at = now() WHERE id = $1`, r.UserID, newHash); err != nil {
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
	if err := s.db.Pool.QueryRow(ctx, `SELECT email, password_hash FROM users WHERE id = $1`, r.UserID).Scan(&email, &hash); err != nil {
		return nil, "", unavailable(op, err)
	}
	ip := tma.ActorFromContext(ctx).IP
	ctx = tma.NewContextWithActor(ctx, tma.Actor{UserID: r.UserID, TenantID: r.TenantID, Label: email, IP: ip})
	rsv, err := s.reserve(ctx, r.TenantID, s.accountKey(r.TenantID, "", email))
	if err != nil {
		return nil, "", err
	}
	ok, err := s.checkPassword(ctx, hash, password)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", s.failed(ctx, rsv, &tma.AuditEvent{TenantID: r.TenantID, ActorID: r.UserID, ActorLabel: email, IP: ip,
			Action: tma.AuditLoginFailed, TargetType: "user", TargetID: r.UserID, Detail: "wrong current password"},
			tma.Errorf(tma.EINVALID, "The current password is not correct."))
	}
	err = s.db.inTx(ctx, op, func(tx pgx.Tx) error { return rsv.release(ctx, tx) })
	return r, email, err
}

// BeginTOTP implements tma.AuthService. A secret that is already pending
// is kept, so the set-up page can be shown again (after a mistyped code, or
// a reload) without invalidating what the user scanned.
func (s *AuthService) BeginTOTP(ctx context.Context, tenantID, userID string) (*tma.TOTPEnrollment, error) {
	const op = "AuthService.BeginTOTP"
	var email string
	var pending *string
	err := s.db.Pool.QueryRow(ctx, `SELECT email, totp_pending FROM users WHERE tenant_id = $1 AND id = $2`, tenantID, userID).Scan(&email, &pending)
	if err != nil {
		return nil, tma.Wrap(op, notFound(err, "No such user."))
	}
	opts := totp.GenerateOpts{Issuer: s.issuer, AccountName: email, Period: totpPeriod, SecretSize: 20}
	if pending != nil {
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(*pending)
		if err != nil {
			return nil, tma.Wrap(op, err)
		}
		opts.Secret = raw
	}
	key, err := totp.Generate(opts)
	if err != nil {
		return nil, tma.Wrap(op, err)
	}
	if pending == nil {
		if _, err := s.db.Pool.Exec(ctx, `UPDATE users SET totp_pending = $3 WHERE tenant_id = $1 AND id = $2 AND totp_pending IS NULL`,
			tenantID, userID, key.Secret()); err != nil {
			return nil, unavailable(op, err)
		}
	}
	return &tma.TOTPEnrollment{Secret: key.Secret(), URL: key.URL()}, nil
}

// ConfirmTOTP implements tma.AuthService. It asks for the password, so
// that someone holding only a session cannot bind their own authenticator
// to the account and lock its owner out.
func (s *AuthService) ConfirmTOTP(ctx context.Context, token, password, code string) ([]string, *tma.LoginResult, error) {
	r, email, err := s.checkCurrentPassword(ctx, token, password)
	if err != nil {
		return nil, nil, err
	}
	var codes []string
	var res *tma.LoginResult
	err = s.db.inTx(ctx, "AuthService.ConfirmTOTP", func(tx pgx.Tx) error {
		locked, err := s.loadSession(ctx, tx, token, true)
		if err != nil {
			return err
		}
		var pending *string
		if err := tx.QueryRow(ctx, `SELECT totp_pending FROM users WHERE id = $1 FOR UPDATE`, r.UserID).Scan(&pending); err != nil {
			return err
		}
		if pending == nil {
			return tma.Errorf(tma.ECONFLICT, "Start the set-up of the authenticator app first.")
		}
		step, ok := s.matchTOTP(*pending, normalizeCode(code), 0)
		if !ok {
			return tma.Errorf(tma.EINVALID, "The code does not match. Check the time on your phone and enter the current code.")
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $2 WHERE id = $1`, r.UserID, step); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, r.UserID); err != nil {
			return err
		}
		codes = newRecoveryCodes(10)
		for _, c := range codes {
			if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (tenant_id, user_id, code_hash) VALUES ($1, $2, $3)`, r.TenantID, r.UserID, hashRecovery(c)); err != nil {
				return err
			}
		}
		if res, err = rotate(ctx, tx, &locked.Session, false); err != nil {
			return err
		}
		actx := tma.NewContextWithActor(ctx, tma.Actor{UserID: r.UserID, TenantID: r.TenantID, Label: email, IP: tma.ActorFromContext(ctx).IP})
		return s.db.audit(actx, tx, r.TenantID, tma.AuditMFAEnrolled, "user", r.UserID, "totp")
	})
	return codes, res, err
}

// RemoveTOTP implements tma.AuthService.
func (s *AuthService) RemoveTOTP(ctx context.Context, token, password string) error {
	r, email, err := s.checkCurrentPassword(ctx, token, password)
	if err != nil {
		return err
	}
	return s.db.inTx(ctx, "AuthService.RemoveTOTP", func(tx pgx.Tx) error {
		var required bool
		if err := tx.QueryRow(ctx, `SELECT require_mfa FROM tenants WHERE id = $1`, r.TenantID).Scan(&required); err != nil {
			return err
		}
		if required {
			return tma.Errorf(tma.EFORBIDDEN, "Your organisation requires two-factor authentication; it cannot be switched off.")
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_secret = NULL, totp_pending = NULL WHERE id = $1`, r.UserID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, r.UserID); err != nil {
			return err
		}
		actx := tma.NewContextWithActor(ctx, tma.Actor{UserID: r.UserID, TenantID: r.TenantID, Label: email, IP: tma.ActorFromContext(ctx).IP})
		return s.db.audit(actx, tx, r.TenantID, tma.AuditMFARemoved, "user", r.UserID, "totp")
	})
}

// ListSessions implements tma.AuthService.
func (s *AuthService) ListSessions(ctx context.Context, tenantID, userID string) ([]*tma.Session, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT id, tenant_id, user_id, mfa_pending, ip, user_agent, created_at, last_seen_at
		FROM sessions WHERE tenant_id = $1 AND user_id = $2 ORDER BY last_seen_at DESC`, tenantID, userID)
	if err != nil {
		return nil, unavailable("AuthService.ListSessions", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*tma.Session, error) {
		var x tma.Session
		err := r.Scan(&x.ID, &x.TenantID, &x.UserID, &x.MFAPending, &x.IP, &x.UserAgent, &x.CreatedAt, &x.LastSeenAt)
		return &x, err
	})
	return list, tma.Wrap("AuthService.ListSessions", err)
}
