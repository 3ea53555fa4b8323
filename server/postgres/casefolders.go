package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// CaseService keeps case folders: cases with their members and exclusions.
type CaseService struct {
	db *DB
}

var _ tma.CaseService = (*CaseService)(nil)

// NewCaseService returns a CaseService on db.
func NewCaseService(db *DB) *CaseService { return &CaseService{db: db} }

const (
	msgNoSuchUser   = "No user with this e-mail address in your organisation."
	msgNoSuchMember = "This person is not a member of the case."
	msgLastLead     = "A case needs at least one current lead. Make someone else lead first."
)

// CreateCase allocates the next reference of the tenant and year under a row
// lock of the counter, so that concurrent creations never collide, inserts
// the case and makes the actor its lead, all in one transaction.
func (s *CaseService) CreateCase(ctx context.Context, tenantID string, nc tma.NewCase) (*tma.Case, error) {
	if err := nc.Validate(); err != nil {
		return nil, err
	}
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || actor.TenantID != tenantID || !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.EFORBIDDEN, "You do not have permission to do this.")
	}
	now := s.db.now()
	var c *tma.Case
	err := s.db.inTx(ctx, "CaseService.CreateCase", func(tx pgx.Tx) error {
		var err error
		c, err = allocateCase(ctx, tx, tenantID, now, func(sp pgx.Tx, ref string) (*tma.Case, error) {
			return scanCase(sp.QueryRow(ctx, `INSERT INTO cases AS c (tenant_id, reference, title, risk, labels, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING `+caseColumns,
				tenantID, ref, nc.Title, nc.Risk, nc.Labels, now))
		})
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO case_members (tenant_id, case_id, user_id, role, added_at) VALUES ($1, $2, $3, 'lead', $4)`,
			tenantID, c.ID, actor.UserID, now); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditCaseCreated, "case", c.ID, c.Reference)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// allocateCase gives a case the next reference of the tenant and year:
// write inserts (or promotes) the case row with ref, inside a savepoint.
// A reference typed by hand (CaseKeyService.CreateCase) may hold the next
// number already; it is skipped.
func allocateCase(ctx context.Context, tx pgx.Tx, tenantID string, now time.Time, write func(sp pgx.Tx, ref string) (*tma.Case, error)) (*tma.Case, error) {
	for range 100 {
		var n int
		err := tx.QueryRow(ctx, `INSERT INTO case_counters (tenant_id, year, last) VALUES ($1, $2, 1)
			ON CONFLICT (tenant_id, year) DO UPDATE SET last = case_counters.last + 1 RETURNING last`,
			tenantID, now.Year()).Scan(&n)
		if isForeignKeyViolation(err) {
			return nil, tma.Errorf(tma.ENOTFOUND, "No such tenant.")
		} else if err != nil {
			return nil, err
		}
		sp, err := tx.Begin(ctx)
		if err != nil {
			return nil, err
		}
		c, err := write(sp, tma.FormatReference(now.Year(), n))
		if isUniqueViolation(err) {
			if err := sp.Rollback(ctx); err != nil {
				return nil, err
			}
			continue
		} else if err != nil {
			return nil, err
		}
		return c, sp.Commit(ctx)
	}
	return nil, errors.New("no free case reference")
}

// FindCase returns ENOTFOUND if the case does not exist in the tenant.
func (s *CaseService) FindCase(ctx context.Context, tenantID, caseID string) (*tma.Case, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	c, err := findCase(ctx, s.db.Pool, `id = $2`, tenantID, caseID, false)
	return c, dbError("CaseService.FindCase", err)
}

// MyCases lists the user's current, unexcluded memberships' cases.
func (s *CaseService) MyCases(ctx context.Context, tenantID, userID string) ([]*tma.Case, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(userID) {
		return nil, nil
	}
	// The cases come one by one through their primary key, for the
	// user's memberships only: OFFSET 0 keeps the planner from joining the
	// subquery as a whole, which it would do with a scan of all the
	// tenant's cases (1.3 ms of a 2 ms statement at 10,000 cases; see
	// BenchmarkCases with TMA_BENCH_EXPLAIN=1). So the list costs what the
	// user's memberships cost, whatever the size of the tenant.
	rows, err := s.db.Pool.Query(ctx, `SELECT `+caseColumns+`
		FROM case_members m CROSS JOIN LATERAL (
			SELECT * FROM cases c WHERE c.tenant_id = m.tenant_id AND c.id = m.case_id OFFSET 0) c
		WHERE m.tenant_id = $1 AND m.user_id = $2 AND (m.expires_at IS NULL OR m.expires_at > $3)
		  AND NOT EXISTS (SELECT 1 FROM case_exclusions x
			WHERE x.tenant_id = m.tenant_id AND x.case_id = m.case_id AND x.user_id = m.user_id)
		ORDER BY c.updated_at DESC, c.reference DESC LIMIT 500`, tenantID, userID, s.db.now())
	if err != nil {
		return nil, dbError("CaseService.MyCases", err)
	}
	cases, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*tma.Case, error) { return scanCase(r) })
	return cases, dbError("CaseService.MyCases", err)
}

// MyRiskCounts counts the user's open cases by risk level, with the
// membership rules of MyCases and without its limit.
func (s *CaseService) MyRiskCounts(ctx context.Context, tenantID, userID string) (map[tma.RiskLevel]int, error) {
	counts := map[tma.RiskLevel]int{}
	if !tma.ValidID(tenantID) || !tma.ValidID(userID) {
		return counts, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT c.risk, count(*)
		FROM case_members m JOIN cases c ON c.tenant_id = m.tenant_id AND c.id = m.case_id
		WHERE m.tenant_id = $1 AND m.user_id = $2 AND (m.expires_at IS NULL OR m.expires_at > $3) AND c.status <> 'closed'
		  AND NOT EXISTS (SELECT 1 FROM case_exclusions x
			WHERE x.tenant_id = m.tenant_id AND x.case_id = m.case_id AND x.user_id = m.user_id)
		GROUP BY c.risk`, tenantID, userID, s.db.now())
	if err != nil {
		return nil, dbError("CaseService.MyRiskCounts", err)
	}
	var risk string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&risk, &n}, func() error {
		counts[tma.RiskLevel(risk)] = n
		return nil
	})
	if err != nil {
		return nil, dbError("CaseService.MyRiskCounts", err)
	}
	return counts, nil
}

// accessSQL loads a user's membership and exclusion of one case in one
// statement. No row: no such case in the tenant.
const accessSQL = `SELECT COALESCE(m.role, ''), m.expires_at, x.user_id IS NOT NULL
	FROM cases c
	LEFT JOIN case_members m ON m.tenant_id = c.tenant_id AND m.case_id = c.id AND m.user_id = $3
	LEFT JOIN case_exclusions x ON x.tenant_id = c.tenant_id AND x.case_id = c.id AND x.user_id = $3
	WHERE c.tenant_id = $1 AND c.id = $2`

// Access returns the user's access to the case, from the session cache
// when it can (invalidated by the triggers of migration 0009), else with one
// statement.
func (s *CaseService) Access(ctx context.Context, tenantID, userID, caseID string) (tma.CaseAccess, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(userID) || !tma.ValidID(caseID) {
		return tma.CaseAccess{}, nil
	}
	if a, ok := s.db.cache.getAccess(tenantID, userID, caseID, s.db.now()); ok {
		return a, nil
	}
	gen := s.db.cache.generation()
	var a tma.CaseAccess
	var role string
	var expires *time.Time
	err := s.db.Pool.QueryRow(ctx, accessSQL, tenantID, caseID, userID).Scan(&role, &expires, &a.Excluded)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return tma.CaseAccess{}, dbError("CaseService.Access", err)
	}
	a.Role = tma.CaseRole(role)
	if expires != nil {
		a.ExpiresAt = expires.UTC()
	}
	s.db.cache.putAccess(tenantID, userID, caseID, gen, a, s.db.now())
	return a, nil
}

// SetState changes status and risk level by hand; the one place that does.
// Closing a case and lowering its risk become a four-eyes request instead
// (approvals.go); a closed case only changes by being reopened.
func (s *CaseService) SetState(ctx context.Context, tenantID, caseID string, status tma.CaseStatus, risk tma.RiskLevel) (*tma.Approval, error) {
	if err := tma.ValidateCaseState(status, risk); err != nil {
		return nil, err
	}
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	var pending *tma.Approval
	err := s.db.inTx(ctx, "CaseService.SetState", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil || (c.Status == status && c.Risk == risk) {
			return err
		}
		if c.Status == tma.StatusClosed && status == tma.StatusClosed {
			return c.CheckOpen()
		}
		if tma.NeedsApproval(c.Status, c.Risk, status, risk) {
			pending, err = s.requestApproval(ctx, tx, c, status, risk)
			return err
		}
		return s.applyState(ctx, tx, c, status, risk)
	})
	if err != nil {
		return nil, err
	}
	return pending, nil
}

// applyState writes a state change and its audit event.
func (s *CaseService) applyState(ctx context.Context, tx pgx.Tx, c *tma.Case, status tma.CaseStatus, risk tma.RiskLevel) error {
	if _, err := tx.Exec(ctx, `UPDATE cases SET status = $3, risk = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2`,
		c.TenantID, c.ID, status, risk, s.db.now()); err != nil {
		return err
	}
	return s.db.audit(ctx, tx, c.TenantID, tma.AuditCaseStateChanged, "case", c.ID, stateDetail(c.Status, c.Risk, status, risk))
}

func stateDetail(fromStatus tma.CaseStatus, fromRisk tma.RiskLevel, status tma.CaseStatus, risk tma.RiskLevel) string {
	return "status " + string(fromStatus) + "→" + string(status) + ", risk " + string(fromRisk) + "→" + string(risk)
}

// Members lists the case's members, leads first, then by name.
func (s *CaseService) Members(ctx context.Context, tenantID, caseID string) ([]*tma.CaseMember, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT m.case_id::text, m.user_id::text, u.display_name, u.email, m.role, m.expires_at, m.added_at
		FROM case_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
		WHERE m.tenant_id = $1 AND m.case_id = $2
		ORDER BY array_position(ARRAY['lead','expert','read_only'], m.role), lower(u.display_name), u.email`, tenantID, caseID)
	if err != nil {
		return nil, dbError("CaseService.Members", err)
	}
	members, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*tma.CaseMember, error) {
		var m tma.CaseMember
		var expires *time.Time
		err := r.Scan(&m.CaseID, &m.UserID, &m.DisplayName, &m.Email, &m.Role, &expires, &m.AddedAt)
		if expires != nil {
			m.ExpiresAt = expires.UTC()
		}
		return &m, err
	})
	return members, dbError("CaseService.Members", err)
}

// AddMember adds a user of the tenant, found by e-mail, to the case.
func (s *CaseService) AddMember(ctx context.Context, tenantID, caseID string, m tma.NewMember) error {
	m.UserID = ""
	if err := m.Validate(s.db.now()); err != nil {
		return err
	}
	return s.db.inTx(ctx, "CaseService.AddMember", func(tx pgx.Tx) error {
		c, userID, err := s.lockCaseAndUser(ctx, tx, tenantID, caseID, m.Email)
		if err != nil {
			return err
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		var excluded bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM case_exclusions WHERE tenant_id = $1 AND case_id = $2 AND user_id = $3)`,
			tenantID, caseID, userID).Scan(&excluded); err != nil {
			return err
		}
		if excluded {
			return tma.Errorf(tma.ECONFLICT, "This person is excluded from the case and cannot be added. Lift the exclusion first if it was a mistake.")
		}
		_, err = tx.Exec(ctx, `INSERT INTO case_members (tenant_id, case_id, user_id, role, expires_at, added_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			tenantID, caseID, userID, m.Role, nullTime(m.ExpiresAt), s.db.now())
		if isUniqueViolation(err) {
			return tma.Errorf(tma.ECONFLICT, "This person is a member of the case already.")
		} else if err != nil {
			return err
		}
		return s.touchAndAudit(ctx, tx, c, tma.AuditCaseMemberAdded, userID, memberDetail(m))
	})
}

// ChangeMember changes a member's role and expiry.
func (s *CaseService) ChangeMember(ctx context.Context, tenantID, caseID string, m tma.NewMember) error {
	if err := m.Validate(s.db.now()); err != nil {
		return err
	}
	if !tma.ValidID(m.UserID) {
		return tma.Errorf(tma.EINVALID, msgNoSuchMember)
	}
	return s.db.inTx(ctx, "CaseService.ChangeMember", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE case_members SET role = $4, expires_at = $5 WHERE tenant_id = $1 AND case_id = $2 AND user_id = $3`,
			tenantID, caseID, m.UserID, m.Role, nullTime(m.ExpiresAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tma.Errorf(tma.EINVALID, msgNoSuchMember)
		}
		if err := s.checkLead(ctx, tx, tenantID, caseID); err != nil {
			return err
		}
		return s.touchAndAudit(ctx, tx, c, tma.AuditCaseMemberChanged, m.UserID, memberDetail(m))
	})
}

// RemoveMember removes a member; the last current lead stays.
func (s *CaseService) RemoveMember(ctx context.Context, tenantID, caseID, userID string) error {
	if !tma.ValidID(userID) {
		return tma.Errorf(tma.EINVALID, msgNoSuchMember)
	}
	return s.db.inTx(ctx, "CaseService.RemoveMember", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM case_members WHERE tenant_id = $1 AND case_id = $2 AND user_id = $3`, tenantID, caseID, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tma.Errorf(tma.EINVALID, msgNoSuchMember)
		}
		if err := s.checkLead(ctx, tx, tenantID, caseID); err != nil {
			return err
		}
		return s.touchAndAudit(ctx, tx, c, tma.AuditCaseMemberRemoved, userID, "")
	})
}

// Exclusions lists the users excluded from the case.
func (s *CaseService) Exclusions(ctx context.Context, tenantID, caseID string) ([]*tma.CaseExclusion, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT x.case_id::text, x.user_id::text, u.display_name, u.email, x.created_at
		FROM case_exclusions x JOIN users u ON u.tenant_id = x.tenant_id AND u.id = x.user_id
		WHERE x.tenant_id = $1 AND x.case_id = $2 ORDER BY lower(u.display_name), u.email`, tenantID, caseID)
	if err != nil {
		return nil, dbError("CaseService.Exclusions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*tma.CaseExclusion, error) {
		var x tma.CaseExclusion
		return &x, r.Scan(&x.CaseID, &x.UserID, &x.DisplayName, &x.Email, &x.CreatedAt)
	})
	return out, dbError("CaseService.Exclusions", err)
}

// Exclude ends the user's membership and walls them off the case.
func (s *CaseService) Exclude(ctx context.Context, tenantID, caseID, email string) error {
	email, err := tma.NormalizeEmail(email)
	if err != nil {
		return err
	}
	return s.db.inTx(ctx, "CaseService.Exclude", func(tx pgx.Tx) error {
		c, userID, err := s.lockCaseAndUser(ctx, tx, tenantID, caseID, email)
		if err != nil {
			return err
		}
		if userID == tma.ActorFromContext(ctx).UserID {
			return tma.Errorf(tma.ECONFLICT, "You cannot exclude yourself from a case.")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM case_members WHERE tenant_id = $1 AND case_id = $2 AND user_id = $3`, tenantID, caseID, userID); err != nil {
			return err
		}
		if err := s.checkLead(ctx, tx, tenantID, caseID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO case_exclusions (tenant_id, case_id, user_id, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, tenantID, caseID, userID, s.db.now())
		if err != nil || tag.RowsAffected() == 0 {
			return err // excluded already: nothing changes, nothing to record
		}
		return s.touchAndAudit(ctx, tx, c, tma.AuditCaseUserExcluded, userID, "")
	})
}

// LiftExclusion takes an exclusion down.
func (s *CaseService) LiftExclusion(ctx context.Context, tenantID, caseID, userID string) error {
	if !tma.ValidID(userID) {
		return tma.Errorf(tma.EINVALID, "This person is not excluded from the case.")
	}
	return s.db.inTx(ctx, "CaseService.LiftExclusion", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM case_exclusions WHERE tenant_id = $1 AND case_id = $2 AND user_id = $3`, tenantID, caseID, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tma.Errorf(tma.EINVALID, "This person is not excluded from the case.")
		}
		return s.touchAndAudit(ctx, tx, c, tma.AuditCaseExclusionLifted, userID, "")
	})
}

// lockCaseAndUser locks the case row (membership changes of one case are
// serialised, so two removals cannot both pass the last-lead check) and
// finds the tenant's user by e-mail.
func (s *CaseService) lockCaseAndUser(ctx context.Context, tx pgx.Tx, tenantID, caseID, email string) (*tma.Case, string, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, "", tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
	if err != nil {
		return nil, "", err
	}
	var userID string
	err = tx.QueryRow(ctx, `SELECT id::text FROM users WHERE tenant_id = $1 AND email = $2`, tenantID, strings.ToLower(email)).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", tma.Errorf(tma.EINVALID, msgNoSuchUser)
	}
	return c, userID, err
}

// checkLead refuses a change that leaves the case without a current lead.
// The case row is locked by the caller.
func (s *CaseService) checkLead(ctx context.Context, tx pgx.Tx, tenantID, caseID string) error {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM case_members m WHERE m.tenant_id = $1 AND m.case_id = $2 AND m.role = 'lead'
		AND (m.expires_at IS NULL OR m.expires_at > $3))`, tenantID, caseID, s.db.now()).Scan(&ok)
	if err == nil && !ok {
		return tma.Errorf(tma.ECONFLICT, msgLastLead)
	}
	return err
}

// touchAndAudit marks the case as changed and records the event about the
// user (the detail names no person: the target id does).
func (s *CaseService) touchAndAudit(ctx context.Context, tx pgx.Tx, c *tma.Case, action, userID, detail string) error {
	if _, err := tx.Exec(ctx, `UPDATE cases SET updated_at = $3 WHERE tenant_id = $1 AND id = $2`, c.TenantID, c.ID, s.db.now()); err != nil {
		return err
	}
	d := c.Reference + " user " + userID
	if detail != "" {
		d += " " + detail
	}
	return s.db.audit(ctx, tx, c.TenantID, action, "case", c.ID, d)
}

// touchAndAuditDetail marks the case as changed and records the event with
// detail as it is (which must name no person).
func (s *CaseService) touchAndAuditDetail(ctx context.Context, tx pgx.Tx, c *tma.Case, action, detail string) error {
	if _, err := tx.Exec(ctx, `UPDATE cases SET updated_at = $3 WHERE tenant_id = $1 AND id = $2`, c.TenantID, c.ID, s.db.now()); err != nil {
		return err
	}
	return s.db.audit(ctx, tx, c.TenantID, action, "case", c.ID, detail)
}

func memberDetail(m tma.NewMember) string {
	d := "role " + string(m.Role)
	if !m.ExpiresAt.IsZero() {
		d += " until " + m.ExpiresAt.UTC().Format("2006-01-02T15:04Z")
	}
	return d
}

// nullTime stores the zero time as NULL: no expiry.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
