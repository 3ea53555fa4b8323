package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// UserService manages the users of a tenant.
type UserService struct{ db *DB }

var _ tma.UserService = (*UserService)(nil)

// NewUserService returns a UserService on db.
func NewUserService(db *DB) *UserService { return &UserService{db: db} }

const userColumns = `u.id, u.tenant_id, u.email, u.display_name, u.locale, u.disabled, u.totp_secret IS NOT NULL,
	u.password_changed_at, u.created_at,
	COALESCE((SELECT array_agg(r.role ORDER BY r.role) FROM user_roles r WHERE r.tenant_id = u.tenant_id AND r.user_id = u.id), '{}')`

func scanUser(row pgx.Row) (*tma.User, error) {
	var u tma.User
	var roles []string
	err := row.Scan(&u.ID, &u.TenantID, &u.Email, &u.DisplayName, &u.Locale, &u.Disabled, &u.MFAEnabled,
		&u.PasswordChangedAt, &u.CreatedAt, &roles)
	if err != nil {
		return nil, notFound(err, "No such user.")
	}
	for _, r := range roles {
		u.Roles = append(u.Roles, tma.Role(r))
	}
	return &u, nil
}

// CreateUser adds a user with a password and roles. Auditors are created
// only by the operator (tma.CheckAccountChange); a refused attempt is
// audited.
func (s *UserService) CreateUser(ctx context.Context, tenantID string, nu tma.NewUser) (*tma.User, error) {
	// Separation of duties first, on the roles as requested: a refused
	// attempt is audited whatever else is wrong with it.
	if err := tma.CheckAccountChange(tma.ActorFromContext(ctx), &tma.User{}, tma.ChangeCreate, nu.Roles); err != nil {
		return nil, s.db.refuse(ctx, tenantID, &refusal{change: tma.ChangeCreate,
			detail: "email=" + tma.CleanText(nu.Email, 254) + " " + rolesDetail(nu.Roles), err: err})
	}
	p, err := prepareUser(nu)
	if err != nil {
		return nil, err
	}
	var u *tma.User
	err = s.db.inTx(ctx, "UserService.CreateUser", func(tx pgx.Tx) error {
		u, err = s.db.createUser(ctx, tx, tenantID, p)
		return err
	})
	return u, err
}

// preparedUser is a validated NewUser with its password already hashed,
// so that no transaction waits for argon2.
type preparedUser struct {
	tma.NewUser
	hash string
}

func prepareUser(nu tma.NewUser) (preparedUser, error) {
	if err := nu.Validate(); err != nil {
		return preparedUser{}, err
	}
	return preparedUser{NewUser: nu, hash: hashPassword(nu.Password)}, nil
}

// refusal is an account change that separation of duties refused.
type refusal struct {
	change tma.AccountChange
	userID string
	detail string
	err    error // EFORBIDDEN, for the user
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// refuse audits a refused account change in a transaction of its own, once
// the change's own transaction has ended (a second connection taken while
// holding the first and a row lock could exhaust the pool), and returns why.
func (db *DB) refuse(ctx context.Context, tenantID string, r *refusal) error {
	detail := string(r.change)
	if r.detail != "" {
		detail += " " + r.detail
	}
	if err := db.inTx(ctx, "refuse", func(tx pgx.Tx) error {
		return db.audit(ctx, tx, tenantID, tma.AuditChangeRefused, "user", r.userID, tma.CleanText(detail, 400))
	}); err != nil {
		return err
	}
	return r.err
}

// inChange runs fn in a transaction like inTx; a refusal (from
// lockForChange) is audited after the transaction has rolled back.
func (s *UserService) inChange(ctx context.Context, op, tenantID string, fn func(tx pgx.Tx) error) error {
	err := s.db.inTx(ctx, op, fn)
	var r *refusal
	if errors.As(err, &r) {
		return s.db.refuse(ctx, tenantID, r)
	}
	return err
}

func (db *DB) createUser(ctx context.Context, tx pgx.Tx, tenantID string, p preparedUser) (*tma.User, error) {
	var id string
	err := tx.QueryRow(ctx, `INSERT INTO users (tenant_id, email, display_name, password_hash, locale)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, tenantID, p.Email, p.DisplayName, p.hash, p.Locale).Scan(&id)
	if isUniqueViolation(err) {
		return nil, tma.Errorf(tma.ECONFLICT, "A user with this e-mail address exists already.")
	} else if err != nil {
		return nil, err
	}
	if err := insertRoles(ctx, tx, tenantID, id, p.Roles); err != nil {
		return nil, err
	}
	if err := db.audit(ctx, tx, tenantID, tma.AuditUserCreated, "user", id, rolesDetail(p.Roles)); err != nil {
		return nil, err
	}
	return findUser(ctx, tx, tenantID, id)
}

func insertRoles(ctx context.Context, tx pgx.Tx, tenantID, userID string, roles []tma.Role) error {
	for _, r := range roles {
		if _, err := tx.Exec(ctx, `INSERT INTO user_roles (tenant_id, user_id, role) VALUES ($1, $2, $3)`, tenantID, userID, string(r)); err != nil {
			return err
		}
	}
	return nil
}

func rolesDetail(roles []tma.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return "roles=" + strings.Join(s, ",")
}

func findUser(ctx context.Context, q querier, tenantID, userID string) (*tma.User, error) {
	if !tma.ValidID(userID) {
		return nil, tma.Errorf(tma.ENOTFOUND, "No such user.")
	}
	return scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.tenant_id = $1 AND u.id = $2`, tenantID, userID))
}

// FindUserByID returns ENOTFOUND unless the user belongs to the tenant.
func (s *UserService) FindUserByID(ctx context.Context, tenantID, userID string) (*tma.User, error) {
	u, err := findUser(ctx, s.db.Pool, tenantID, userID)
	return u, dbError("UserService.FindUserByID", err)
}

// FindUserByEmail finds a user of the tenant by e-mail address.
func (s *UserService) FindUserByEmail(ctx context.Context, tenantID, email string) (*tma.User, error) {
	email, err := tma.NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	u, err := scanUser(s.db.Pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.tenant_id = $1 AND u.email = $2`, tenantID, email))
	return u, dbError("UserService.FindUserByEmail", err)
}

// FindUsers lists the tenant's users by name.
func (s *UserService) FindUsers(ctx context.Context, tenantID string) ([]*tma.User, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT `+userColumns+` FROM users u WHERE u.tenant_id = $1 ORDER BY lower(u.display_name), u.email`, tenantID)
	if err != nil {
		return nil, dbError("UserService.FindUsers", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*tma.User, error) { return scanUser(r) })
	return users, dbError("UserService.FindUsers", err)
}

// SetRoles replaces the user's roles. Separation of duties applies
// (tma.CheckAccountChange), and the last active admin keeps the admin role,
// so a tenant never locks itself out.
//
// Granting the auditor role (only the operator may) also resets the
// account's credentials: the password, sessions, known devices and second
// factor. An administrator may have chosen that password or hold a session
// of the account, and must not carry them into the audit log. The operator
// sets a new password next (tma user roles does).
func (s *UserService) SetRoles(ctx context.Context, tenantID, userID string, requested []tma.Role) error {
	return s.inChange(ctx, "UserService.SetRoles", tenantID, func(tx pgx.Tx) error {
		u, err := s.lockForChange(ctx, tx, tenantID, userID, tma.ChangeRoles, requested)
		if err != nil {
			return err
		}
		roles, err := tma.NormalizeRoles(requested)
		if err != nil {
			return err
		}
		detail := rolesDetail(roles)
		if slices.Contains(roles, tma.RoleAuditor) && !u.HasRole(tma.RoleAuditor) {
			if err := resetCredentials(ctx, tx, u, unusablePassword); err != nil {
				return err
			}
			detail += " credentials_reset"
		}
		if u.HasRole(tma.RoleAdmin) && !slices.Contains(roles, tma.RoleAdmin) {
			if err := ensureAnotherAdmin(ctx, tx, tenantID, userID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM user_roles WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID); err != nil {
			return err
		}
		if err := insertRoles(ctx, tx, tenantID, userID, roles); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditRolesChanged, "user", userID, detail)
	})
}

// forgetSessionsAndDevices ends the user's sessions and forgets the
// browsers it signed in with, after a password reset, a lock or "sign out
// everywhere": whoever held them must prove themselves again.
func forgetSessionsAndDevices(ctx context.Context, q querier, tenantID, userID string) error {
	if _, err := q.Exec(ctx, `DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `DELETE FROM login_devices WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID)
	return err
}

// unusablePassword is a password hash no password matches (it is not in the
// PHC format that checkPassword reads).
const unusablePassword = "!"

// resetCredentials replaces the password hash and ends everything that
// proves the account's identity: sessions, known devices, the second
// factor and its recovery codes, and lockouts.
func resetCredentials(ctx context.Context, tx pgx.Tx, u *tma.User, hash string) error {
	for _, q := range []string{
		`UPDATE users SET password_hash = $3, password_changed_at = now(), totp_secret = NULL, totp_pending = NULL
			WHERE tenant_id = $1 AND id = $2`,
		`DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2`,
	} {
		args := []any{u.TenantID, u.ID}
		if strings.Contains(q, "$3") {
			args = append(args, hash)
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return err
		}
	}
	if err := forgetSessionsAndDevices(ctx, tx, u.TenantID, u.ID); err != nil {
		return err
	}
	return liftLockout(ctx, tx, u)
}

// lockForChange locks the user's row for change and applies separation of
// duties. It returns a *refusal, which inChange audits after tx.
func (s *UserService) lockForChange(ctx context.Context, tx pgx.Tx, tenantID, userID string, change tma.AccountChange, roles []tma.Role) (*tma.User, error) {
	u, err := lockUser(ctx, tx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	if err := tma.CheckAccountChange(tma.ActorFromContext(ctx), u, change, roles); err != nil {
		detail := ""
		if roles != nil {
			detail = rolesDetail(roles)
		}
		return nil, &refusal{change: change, userID: userID, detail: detail, err: err}
	}
	return u, nil
}

// lockUser loads the user and locks its row until tx ends.
func lockUser(ctx context.Context, tx pgx.Tx, tenantID, userID string) (*tma.User, error) {
	if !tma.ValidID(userID) {
		return nil, tma.Errorf(tma.ENOTFOUND, "No such user.")
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, userID); err != nil {
		return nil, err
	}
	return findUser(ctx, tx, tenantID, userID)
}

func ensureAnotherAdmin(ctx context.Context, tx pgx.Tx, tenantID, userID string) error {
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM user_roles r JOIN users u ON u.tenant_id = r.tenant_id AND u.id = r.user_id
		WHERE r.tenant_id = $1 AND r.role = 'admin' AND r.user_id <> $2 AND NOT u.disabled`, tenantID, userID).Scan(&n)
	if err != nil {
		return err
	}
	if n == 0 {
		return tma.Errorf(tma.ECONFLICT, "This is the last active admin of the tenant; make someone else admin first.")
	}
	return nil
}

// SetDisabled locks or unlocks the account. Locking ends its sessions.
func (s *UserService) SetDisabled(ctx context.Context, tenantID, userID string, disabled bool) error {
	return s.inChange(ctx, "UserService.SetDisabled", tenantID, func(tx pgx.Tx) error {
		u, err := s.lockForChange(ctx, tx, tenantID, userID, tma.ChangeStatus, nil)
		if err != nil {
			return err
		}
		action := tma.AuditUserEnabled
		if !disabled {
			// Unlocking an account means the person can sign in again.
			if err := liftLockout(ctx, tx, u); err != nil {
				return err
			}
		} else {
			action = tma.AuditUserDisabled
			if u.HasRole(tma.RoleAdmin) {
				if err := ensureAnotherAdmin(ctx, tx, tenantID, userID); err != nil {
					return err
				}
			}
			if err := forgetSessionsAndDevices(ctx, tx, tenantID, userID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET disabled = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, userID, disabled); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, action, "user", userID, "")
	})
}

// SetLocale stores the user's language.
func (s *UserService) SetLocale(ctx context.Context, tenantID, userID, locale string) error {
	if err := tma.CheckText("locale", locale); err != nil {
		return err
	}
	if !tma.ValidLocale(locale) {
		return tma.Errorf(tma.EINVALID, "Unknown language %q.", locale)
	}
	return s.db.inTx(ctx, "UserService.SetLocale", func(tx pgx.Tx) error {
		if _, err := lockUser(ctx, tx, tenantID, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET locale = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, userID, locale); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditUserLocale, "user", userID, "locale="+locale)
	})
}

// ResetPassword sets a password chosen by an admin, ends the user's
// sessions and lifts a sign-in lockout: the new password must work at once.
func (s *UserService) ResetPassword(ctx context.Context, tenantID, userID, newPassword string) error {
	if err := tma.ValidatePassword(newPassword); err != nil {
		return err
	}
	hash := hashPassword(newPassword)
	return s.inChange(ctx, "UserService.ResetPassword", tenantID, func(tx pgx.Tx) error {
		u, err := s.lockForChange(ctx, tx, tenantID, userID, tma.ChangePassword, nil)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $3, password_changed_at = now() WHERE tenant_id = $1 AND id = $2`,
			tenantID, userID, hash); err != nil {
			return err
		}
		if err := forgetSessionsAndDevices(ctx, tx, tenantID, userID); err != nil {
			return err
		}
		if err := liftLockout(ctx, tx, u); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditPasswordReset, "user", userID, "")
	})
}

// LiftLockout ends the account's sign-in lockout from every address, and
// its second-factor lockout.
func (s *UserService) LiftLockout(ctx context.Context, tenantID, userID string) error {
	return s.inChange(ctx, "UserService.LiftLockout", tenantID, func(tx pgx.Tx) error {
		u, err := s.lockForChange(ctx, tx, tenantID, userID, tma.ChangeLiftLockout, nil)
		if err != nil {
			return err
		}
		if err := liftLockout(ctx, tx, u); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditLockoutLifted, "user", userID, "")
	})
}
