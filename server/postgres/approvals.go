package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// Four-eyes requests (case_approvals): SetState files one instead of
// closing a case or lowering its risk; a second threat manager of the case
// approves it (the change is made then) or rejects it. The requester may
// withdraw (reject) their own request but never approve it; the table
// refuses it too (CHECK decided_by <> requested_by).

const (
	msgApprovalPending = "A change of this case is waiting for approval already. Decide or withdraw it first."
	msgNoApproval      = "No such pending request."
	msgOwnApproval     = "You cannot approve your own request. Another threat manager of the case must decide it."
	msgApprovalStale   = "The case changed since this request was made. Reject it and ask again."
)

// requestApproval files a pending request for the locked case c.
func (s *CaseService) requestApproval(ctx context.Context, tx pgx.Tx, c *tma.Case, status tma.CaseStatus, risk tma.RiskLevel) (*tma.Approval, error) {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.EFORBIDDEN, "You do not have permission to do this.")
	}
	a := &tma.Approval{ID: tma.NewID(), CaseID: c.ID, RequestedBy: actor.UserID, FromStatus: c.Status, FromRisk: c.Risk,
		Status: status, Risk: risk, CreatedAt: s.db.now()}
	_, err := tx.Exec(ctx, `INSERT INTO case_approvals (tenant_id, id, case_id, requested_by, from_status, from_risk, status, risk, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, c.TenantID, a.ID, c.ID, a.RequestedBy, a.FromStatus, a.FromRisk, a.Status, a.Risk, a.CreatedAt)
	if isUniqueViolation(err) {
		return nil, tma.Errorf(tma.ECONFLICT, msgApprovalPending)
	} else if err != nil {
		return nil, err
	}
	detail := "request " + a.ID + " " + stateDetail(c.Status, c.Risk, status, risk)
	return a, s.db.audit(ctx, tx, c.TenantID, tma.AuditApprovalRequested, "case", c.ID, detail)
}

// Approvals lists the case's pending requests.
func (s *CaseService) Approvals(ctx context.Context, tenantID, caseID string) ([]*tma.Approval, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT a.id::text, a.case_id::text, a.requested_by::text, COALESCE(u.display_name, ''),
		a.from_status, a.from_risk, a.status, a.risk, a.created_at
		FROM case_approvals a LEFT JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.requested_by
		WHERE a.tenant_id = $1 AND a.case_id = $2 AND a.decided_at IS NULL ORDER BY a.created_at`, tenantID, caseID)
	if err != nil {
		return nil, dbError("CaseService.Approvals", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*tma.Approval, error) {
		var a tma.Approval
		return &a, r.Scan(&a.ID, &a.CaseID, &a.RequestedBy, &a.RequesterName, &a.FromStatus, &a.FromRisk, &a.Status, &a.Risk, &a.CreatedAt)
	})
	return out, dbError("CaseService.Approvals", err)
}

// DecideApproval approves or rejects a pending request, under the case's
// row lock, so that the change and the decision are one.
func (s *CaseService) DecideApproval(ctx context.Context, tenantID, caseID, approvalID string, approve bool) error {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(approvalID) || !tma.ValidID(actor.UserID) {
		return tma.Errorf(tma.ENOTFOUND, msgNoApproval)
	}
	return s.db.inTx(ctx, "CaseService.DecideApproval", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		var a tma.Approval
		err = tx.QueryRow(ctx, `SELECT id::text, requested_by::text, from_status, from_risk, status, risk FROM case_approvals
			WHERE tenant_id = $1 AND case_id = $2 AND id = $3 AND decided_at IS NULL FOR UPDATE`, tenantID, caseID, approvalID).
			Scan(&a.ID, &a.RequestedBy, &a.FromStatus, &a.FromRisk, &a.Status, &a.Risk)
		if err != nil {
			return notFound(err, msgNoApproval)
		}
		own := a.RequestedBy == actor.UserID
		if approve && own {
			return tma.Errorf(tma.EFORBIDDEN, msgOwnApproval)
		}
		if approve {
			// The route lets only threat managers with manage rights on the
			// case through; the service checks the case half again, so a
			// weakened route rule cannot let an expert approve.
			var lead bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM case_members m WHERE m.tenant_id = $1 AND m.case_id = $2 AND m.user_id = $3
				AND m.role = 'lead' AND (m.expires_at IS NULL OR m.expires_at > $4)
				AND NOT EXISTS (SELECT 1 FROM case_exclusions x WHERE x.tenant_id = m.tenant_id AND x.case_id = m.case_id AND x.user_id = m.user_id))`,
				tenantID, caseID, actor.UserID, s.db.now()).Scan(&lead); err != nil {
				return err
			}
			if !lead {
				return tma.Errorf(tma.EFORBIDDEN, "You do not have permission to do this.")
			}
		}
		if approve && (c.Status != a.FromStatus || c.Risk != a.FromRisk) {
			return tma.Errorf(tma.ECONFLICT, msgApprovalStale)
		}
		// The requester withdrawing their own request leaves decided_by
		// empty: the CHECK keeps decider and requester apart.
		var decidedBy *string
		if !own {
			decidedBy = &actor.UserID
		}
		if _, err := tx.Exec(ctx, `UPDATE case_approvals SET decided_by = $4, decided_at = $5, approved = $6
			WHERE tenant_id = $1 AND case_id = $2 AND id = $3`, tenantID, caseID, approvalID, decidedBy, s.db.now(), approve); err != nil {
			return err
		}
		detail := "request " + a.ID + " of user " + a.RequestedBy + " " + stateDetail(a.FromStatus, a.FromRisk, a.Status, a.Risk)
		if !approve {
			if own {
				detail += " withdrawn"
			}
			return s.db.audit(ctx, tx, tenantID, tma.AuditApprovalRejected, "case", caseID, detail)
		}
		if err := s.db.audit(ctx, tx, tenantID, tma.AuditApprovalGranted, "case", caseID, detail); err != nil {
			return err
		}
		return s.applyState(ctx, tx, c, a.Status, a.Risk)
	})
}
