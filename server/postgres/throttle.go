package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// throttleKey names a counter of failed attempts and its limit per window:
// a client address, an account (password guesses) or a user's second factor.
type throttleKey struct {
	key   string
	limit int
}

func (s *AuthService) addressKey(ip string) throttleKey {
	return throttleKey{"address:" + ip, s.throttle.AddressFailures}
}

// accountKey is per tenant and e-mail. An unknown organisation gets a key of
// its own too, so that it locks exactly like a real one and its existence is
// not revealed by when the lockout message appears.
func (s *AuthService) accountKey(tenantID, slug, email string) throttleKey {
	if tenantID == "" {
		tenantID = "unknown-" + slug
	}
	return throttleKey{"account:" + tenantID + ":" + email, s.throttle.AccountFailures}
}

// recheckKey counts wrong current passwords typed by a signed-in user (to
// change the password or the second factor).
func (s *AuthService) recheckKey(userID string) throttleKey {
	return throttleKey{"recheck:" + userID, s.throttle.AccountFailures}
}

// deviceKey counts the attempts of a known device (a browser that signed in
// to the account before) apart from the account's: a stranger's wrong
// passwords lock the account key, not the owner's browser.
func (s *AuthService) deviceKey(userID string, tokenHash []byte) throttleKey {
	return throttleKey{"device:" + userID + ":" + hex.EncodeToString(tokenHash[:8]), s.throttle.AccountFailures}
}

// maxDevices is how many known devices an account keeps; older ones are
// forgotten.
const maxDevices = 10

// knownDevice returns the token hash of raw if it is a known device of the
// user, and nil otherwise. It always queries when a token is given, so that
// its timing does not tell whether the account exists.
func (s *AuthService) knownDevice(ctx context.Context, raw, tenantID, userID string) ([]byte, error) {
	if raw == "" || len(raw) > 100 {
		return nil, nil
	}
	h := hashToken(raw)
	var tid, uid string
	err := s.db.Pool.QueryRow(ctx, `SELECT tenant_id::text, user_id::text FROM login_devices WHERE token_hash = $1`, h).Scan(&tid, &uid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, dbError("AuthService.knownDevice", err)
	}
	if userID == "" || tid != tenantID || uid != userID {
		return nil, nil
	}
	return h, nil
}

// rememberDevice makes the browser of a correct password a known device of
// the user and returns its raw token.
func (s *AuthService) rememberDevice(ctx context.Context, tx pgx.Tx, tenantID, userID string) (string, error) {
	tok, h := newToken()
	if _, err := tx.Exec(ctx, `INSERT INTO login_devices (token_hash, tenant_id, user_id, created_at) VALUES ($1, $2, $3, $4)`,
		h, tenantID, userID, s.db.now()); err != nil {
		return "", err
	}
	_, err := tx.Exec(ctx, `DELETE FROM login_devices WHERE tenant_id = $1 AND user_id = $2 AND token_hash NOT IN (
		SELECT token_hash FROM login_devices WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at DESC LIMIT $3)`,
		tenantID, userID, maxDevices)
	return tok, err
}

// mfaKey counts wrong second factors of a user. A correct password does not
// reset it, so the code cannot be guessed by signing in again and again.
func (s *AuthService) mfaKey(userID string) throttleKey {
	return throttleKey{"mfa:" + userID, s.throttle.AccountFailures}
}

// liftLockout deletes the counters and locks of u's account and second
// factor. Address counters stay: they belong to whoever used the address.
func liftLockout(ctx context.Context, tx pgx.Tx, u *tma.User) error {
	_, err := tx.Exec(ctx, `DELETE FROM login_throttle WHERE key = ANY($1) OR starts_with(key, $2)`,
		[]string{"account:" + u.TenantID + ":" + u.Email, "mfa:" + u.ID, "recheck:" + u.ID}, "device:"+u.ID+":")
	return err
}

// reservation is an attempt that was counted before its secret was checked.
type reservation struct {
	keys   []throttleKey
	counts []int // attempts in the window so far, this one included
}

// reserve counts an attempt against every key before the password or code
// is checked, under row locks. Parallel guesses therefore cannot slip past
// the lockout: at most limit attempts per window reach the (slow) check. If
// any key is locked, the attempt is refused with ETHROTTLED, audited when
// the tenant is known, and counted nowhere: someone retrying a locked
// account must not lock out colleagues behind the same address. Keys are
// locked in sorted order, so concurrent reservations never deadlock.
func (s *AuthService) reserve(ctx context.Context, tenantID string, keys ...throttleKey) (*reservation, error) {
	res, wait, err := s.db.reserveAttempt(ctx, s.throttle, tenantID, tma.AuditLoginThrottled, keys...)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return nil, throttled(wait)
	}
	return res, nil
}

// reserveAttempt is reserve for any counter of login_throttle (sign-ins,
// anonymous reports and receipt codes): it counts an attempt against every
// key under row locks, or, if a key is locked, counts nothing, audits
// action in the tenant (if known) and returns how long the lock lasts.
func (db *DB) reserveAttempt(ctx context.Context, policy tma.ThrottlePolicy, tenantID, action string, keys ...throttleKey) (*reservation, time.Duration, error) {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b throttleKey) int { return strings.Compare(a.key, b.key) })
	now := db.now()
	res := &reservation{keys: keys, counts: make([]int, len(keys))}
	type state struct {
		failures int
		start    time.Time
	}
	states := make([]state, len(keys))
	var lockedUntil time.Time
	err := db.inTx(ctx, "reserveAttempt", func(tx pgx.Tx) error {
		for i, k := range keys {
			var until *time.Time
			err := tx.QueryRow(ctx, `INSERT INTO login_throttle (key, failures, window_start) VALUES ($1, 0, $2)
				ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
				RETURNING failures, window_start, locked_until`, k.key, now).Scan(&states[i].failures, &states[i].start, &until)
			if err != nil {
				return err
			}
			if until != nil && until.After(now) {
				lockedUntil = maxTime(lockedUntil, *until)
			}
		}
		if !lockedUntil.IsZero() {
			if tenantID == "" {
				return nil
			}
			return db.audit(ctx, tx, tenantID, action, "", "", "")
		}
		for i, k := range keys {
			st := states[i]
			if now.Sub(st.start) > policy.Window {
				st = state{0, now}
			}
			st.failures++
			var err error
			if st.failures > k.limit {
				// The limit was reached by attempts still in flight.
				t := now.Add(policy.Lockout)
				lockedUntil = maxTime(lockedUntil, t)
				_, err = tx.Exec(ctx, `UPDATE login_throttle SET failures = 0, window_start = $2, locked_until = $2 WHERE key = $1`, k.key, t)
			} else {
				_, err = tx.Exec(ctx, `UPDATE login_throttle SET failures = $2, window_start = $3 WHERE key = $1`, k.key, st.failures, st.start)
			}
			if err != nil {
				return err
			}
			res.counts[i] = st.failures
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if !lockedUntil.IsZero() {
		return nil, max(lockedUntil.Sub(now), time.Second), nil
	}
	return res, 0, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// release gives back a reserved attempt that succeeded: the account or
// second-factor counter starts again, and the address gets its attempt back.
func (r *reservation) release(ctx context.Context, tx pgx.Tx) error {
	for _, k := range r.keys {
		var err error
		if strings.HasPrefix(k.key, "address:") {
			_, err = tx.Exec(ctx, `UPDATE login_throttle SET failures = GREATEST(failures - 1, 0) WHERE key = $1`, k.key)
		} else {
			_, err = tx.Exec(ctx, `DELETE FROM login_throttle WHERE key = $1`, k.key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// failed records that a reserved attempt failed: it audits the failure (as
// action against the actor of ctx, the user the attempt was for) and, if the
// attempt used up a key's last try, locks the key. It returns the lockout
// error then, and wrong otherwise.
func (s *AuthService) failed(ctx context.Context, r *reservation, action, detail string, wrong error) error {
	a := tma.ActorFromContext(ctx)
	now := s.db.now()
	var locked bool
	err := s.db.inTx(ctx, "AuthService.failed", func(tx pgx.Tx) error {
		for i, k := range r.keys {
			if r.counts[i] < k.limit {
				continue
			}
			locked = true
			t := now.Add(s.throttle.Lockout)
			if _, err := tx.Exec(ctx, `UPDATE login_throttle SET failures = 0, window_start = $2, locked_until = GREATEST(locked_until, $2)
				WHERE key = $1`, k.key, t); err != nil {
				return err
			}
		}
		if a.TenantID == "" {
			return nil // an unknown tenant has no audit chain
		}
		return s.db.audit(ctx, tx, a.TenantID, action, "user", a.UserID, detail)
	})
	if err != nil {
		return err
	}
	if locked {
		return throttled(s.throttle.Lockout)
	}
	return wrong
}

func throttled(wait time.Duration) error {
	min := max(1, int(math.Ceil(wait.Minutes())))
	return tma.Errorf(tma.ETHROTTLED, "Too many failed sign-in attempts. Sign-in is locked for %d more minute(s); try again later or ask your administrator.", min)
}

// typedLabel is how the audit log names what someone typed as an e-mail
// address that matches no account: a short hash, because the typed text
// may be a password in the wrong field and the log can never be changed.
func typedLabel(email string) string {
	h := sha256.Sum256([]byte(email))
	return "unknown account (sha256:" + hex.EncodeToString(h[:6]) + ")"
}
