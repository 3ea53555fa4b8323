package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tma-portal/tma/server/tma"
)

// TOTP seeds are credentials the server must read back, so they cannot be
// hashed. They are sealed (tma.SecretSealer: a data key per sealing under
// the tenant KEK) and stored in the text columns totp_secret and
// totp_pending as sealedPrefix + base64. A value without the prefix is a
// seed from before sealing; SealLegacySecrets seals those at start-up, and
// after that a clear seed is refused as corrupt.
const sealedPrefix = "sealed:"

func totpScope(tenantID, userID string) tma.SecretScope {
	return tma.SecretScope{TenantID: tenantID, UserID: userID, Purpose: "totp"}
}

func (s *AuthService) sealTOTP(ctx context.Context, tenantID, userID, secret string) (string, error) {
	sealed, err := s.secrets.SealSecret(ctx, totpScope(tenantID, userID), []byte(secret))
	if err != nil {
		return "", err
	}
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(sealed), nil
}

func (s *AuthService) openTOTP(ctx context.Context, tenantID, userID, stored string) (string, error) {
	enc, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		// Every process seals clear seeds when it starts, so a clear seed
		// now was written behind the application's back.
		return "", &tma.Error{Code: tma.ECORRUPT, Op: "openTOTP", Message: "A TOTP seed is stored in clear."}
	}
	sealed, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil {
		return "", &tma.Error{Code: tma.ECORRUPT, Op: "openTOTP", Message: "A sealed TOTP seed is damaged.", Err: err}
	}
	plain, err := s.secrets.OpenSecret(ctx, totpScope(tenantID, userID), sealed)
	return string(plain), err
}

// SealLegacySecrets seals every TOTP seed still stored in clear and returns
// how many it sealed. Safe to run from several processes at once.
func (s *AuthService) SealLegacySecrets(ctx context.Context) (int, error) {
	const op = "AuthService.SealLegacySecrets"
	rows, err := s.db.Pool.Query(ctx, `SELECT tenant_id, id, totp_secret, totp_pending FROM users
		WHERE (totp_secret IS NOT NULL AND totp_secret NOT LIKE 'sealed:%') OR (totp_pending IS NOT NULL AND totp_pending NOT LIKE 'sealed:%')`)
	if err != nil {
		return 0, dbError(op, err)
	}
	type legacy struct {
		tenantID, userID string
		secret, pending  *string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (legacy, error) {
		var l legacy
		return l, r.Scan(&l.tenantID, &l.userID, &l.secret, &l.pending)
	})
	if err != nil {
		return 0, dbError(op, err)
	}
	n := 0
	for _, l := range list {
		seal := func(v *string) (*string, error) {
			if v == nil || strings.HasPrefix(*v, sealedPrefix) {
				return v, nil
			}
			sealed, err := s.sealTOTP(ctx, l.tenantID, l.userID, *v)
			return &sealed, err
		}
		secret, err1 := seal(l.secret)
		pending, err2 := seal(l.pending)
		if err1 != nil || err2 != nil {
			return n, dbError(op, errors.Join(err1, err2))
		}
		// Only if nothing changed meanwhile (a concurrent sweep or set-up).
		tag, err := s.db.Pool.Exec(ctx, `UPDATE users SET totp_secret = $5, totp_pending = $6
			WHERE tenant_id = $1 AND id = $2 AND totp_secret IS NOT DISTINCT FROM $3 AND totp_pending IS NOT DISTINCT FROM $4`,
			l.tenantID, l.userID, l.secret, l.pending, secret, pending)
		if err != nil {
			return n, dbError(op, err)
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}

// checkSecondFactor accepts a TOTP code newer than the last one used, or an
// unused recovery code, and consumes it.
func (s *AuthService) checkSecondFactor(ctx context.Context, tx pgx.Tx, tenantID, userID, code string) (bool, string, error) {
	code = normalizeCode(code)
	if len(code) == 6 {
		var stored *string
		var last int64
		if err := tx.QueryRow(ctx, `SELECT totp_secret, totp_last_step FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
			tenantID, userID).Scan(&stored, &last); err != nil {
			return false, "", err
		}
		if stored == nil {
			return false, "", nil
		}
		secret, err := s.openTOTP(ctx, tenantID, userID, *stored)
		if err != nil {
			return false, "", err
		}
		step, ok := s.matchTOTP(secret, code, last)
		if !ok {
			return false, "", nil
		}
		_, err = tx.Exec(ctx, `UPDATE users SET totp_last_step = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, userID, step)
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

// BeginTOTP implements tma.AuthService. A secret that is already pending
// is kept, so the set-up page can be shown again (after a mistyped code, or
// a reload) without invalidating what the user scanned.
func (s *AuthService) BeginTOTP(ctx context.Context, tenantID, userID string) (*tma.TOTPEnrollment, error) {
	const op = "AuthService.BeginTOTP"
	var email string
	var pending *string
	err := s.db.Pool.QueryRow(ctx, `SELECT email, totp_pending FROM users WHERE tenant_id = $1 AND id = $2`, tenantID, userID).Scan(&email, &pending)
	if err != nil {
		return nil, dbError(op, notFound(err, "No such user."))
	}
	opts := totp.GenerateOpts{Issuer: s.issuer, AccountName: email, Period: totpPeriod, SecretSize: 20}
	if pending != nil {
		secret, err := s.openTOTP(ctx, tenantID, userID, *pending)
		if err != nil {
			return nil, dbError(op, err)
		}
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
		if err != nil {
			return nil, dbError(op, err)
		}
		opts.Secret = raw
	}
	key, err := totp.Generate(opts)
	if err != nil {
		return nil, dbError(op, err)
	}
	if pending == nil {
		sealed, err := s.sealTOTP(ctx, tenantID, userID, key.Secret())
		if err != nil {
			return nil, dbError(op, err)
		}
		tag, err := s.db.Pool.Exec(ctx, `UPDATE users SET totp_pending = $3 WHERE tenant_id = $1 AND id = $2 AND totp_pending IS NULL`,
			tenantID, userID, sealed)
		if err != nil {
			return nil, dbError(op, err)
		}
		if tag.RowsAffected() == 0 {
			// A set-up started at the same moment stored its seed first;
			// this QR code would never work.
			return nil, tma.Errorf(tma.ECONFLICT, "The set-up was started twice at once. Reload the page to see the code to scan.")
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
		if err := tx.QueryRow(ctx, `SELECT totp_pending FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, r.TenantID, r.UserID).Scan(&pending); err != nil {
			return err
		}
		if pending == nil {
			return tma.Errorf(tma.ECONFLICT, "Start the set-up of the authenticator app first.")
		}
		secret, err := s.openTOTP(ctx, r.TenantID, r.UserID, *pending)
		if err != nil {
			return err
		}
		step, ok := s.matchTOTP(secret, normalizeCode(code), 0)
		if !ok {
			return tma.Errorf(tma.EINVALID, "The code does not match. Check the time on your phone and enter the current code.")
		}
		// The pending seal moves as it is: it is bound to the user and the
		// purpose "totp", not to the column.
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $3
			WHERE tenant_id = $1 AND id = $2`, r.TenantID, r.UserID, step); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2`, r.TenantID, r.UserID); err != nil {
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
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_secret = NULL, totp_pending = NULL WHERE tenant_id = $1 AND id = $2`, r.TenantID, r.UserID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2`, r.TenantID, r.UserID); err != nil {
			return err
		}
		actx := tma.NewContextWithActor(ctx, tma.Actor{UserID: r.UserID, TenantID: r.TenantID, Label: email, IP: tma.ActorFromContext(ctx).IP})
		return s.db.audit(actx, tx, r.TenantID, tma.AuditMFARemoved, "user", r.UserID, "totp")
	})
}
